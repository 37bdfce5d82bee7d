"""Every environment variable the featurize Lambda reads, with its default and a line of help."""

from __future__ import annotations

import os
from dataclasses import dataclass

# (name, default, help): the same shape as the other functions' tables.
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("GALLERY_BUCKET", "",
     "Private gallery bucket: the images, models/<sha256>.onnx and the reindex/<run>/shards/ it writes."),
    ("FEATURIZE_MAX_PIXELS", "40000000",
     "Largest image decoded (width x height); larger ones are reported in the shard as bad images."),
    ("FEATURIZE_MAX_BYTES", "20971520",
     "Largest gallery object read, in bytes; larger ones are reported in the shard, not read."),
    ("FEATURIZE_CHUNK", "16", "Images per ONNX Runtime run (bounds the input tensor's memory)."),
    ("FEATURIZE_THREADS", "0",
     "ONNX Runtime intra-op threads; 0 lets it use every vCPU the memory size gives."),
)


class Misconfigured(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class FeaturizeConfig:
    """The featurize function's settings, typed."""

    gallery_bucket: str
    max_pixels: int
    max_bytes: int
    chunk: int
    threads: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> FeaturizeConfig:
        """Read the table once; Misconfigured names a missing or malformed value."""
        env = os.environ if environ is None else environ
        values = {name: env.get(name, default) for name, default, _ in SETTINGS}
        if not values["GALLERY_BUCKET"]:
            raise Misconfigured("GALLERY_BUCKET is not set")
        numbers = {}
        for name in ("FEATURIZE_MAX_PIXELS", "FEATURIZE_MAX_BYTES", "FEATURIZE_CHUNK", "FEATURIZE_THREADS"):
            try:
                numbers[name] = int(values[name])
            except ValueError as e:
                raise Misconfigured(f"{name} must be an integer, got {values[name]!r}") from e
            if numbers[name] < (0 if name == "FEATURIZE_THREADS" else 1):
                raise Misconfigured(f"{name} is out of range: {numbers[name]}")
        return cls(values["GALLERY_BUCKET"], numbers["FEATURIZE_MAX_PIXELS"], numbers["FEATURIZE_MAX_BYTES"],
                   numbers["FEATURIZE_CHUNK"], numbers["FEATURIZE_THREADS"])
