"""Visual image search engine and agent: featurizer, LSH index, daemon and thin client."""

__version__ = "0.1.0"
