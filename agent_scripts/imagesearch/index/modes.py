"""The search modes of an index: pure data, so the daemon's wire format can name them cheaply."""

MODES = ("lsh", "exact")
