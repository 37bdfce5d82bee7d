"""Use cases over the engine: build, the gallery rule, ingest batches, the result cache warm-up."""
