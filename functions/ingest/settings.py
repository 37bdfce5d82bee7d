"""Every environment variable the ingest Lambda reads, with its default and a line of help."""

from __future__ import annotations

import os
from dataclasses import dataclass

# (name, default, help): the same shape as the search function's table.
SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("GALLERY_BUCKET", "", "Private gallery bucket: the images, and ingest/<id>.json batch objects."),
    ("SITE_BUCKET", "", "Public site bucket: the public copies (thumbs/, previews/, results/) of images that "
                        "left the gallery or that the index refused are deleted from it."),
    ("INGEST_DOCUMENT_NAME", "", "Name of the SSM Command document that applies a batch on the instance."),
    ("INSTANCE_TAG_KEY", "ImageSearchRole", "Tag key that marks the search instance."),
    ("INSTANCE_TAG_VALUE", "search", "Tag value that marks the search instance."),
    ("PER_ALBUM", "48", "Images per album offered on the page (publish's --per-album)."),
    ("INGEST_MARGIN_SECONDS", "10",
     "Time kept back from the Lambda's remaining time to report the batch before it is killed."),
)


class Misconfigured(Exception):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class IngestConfig:
    """The ingest function's settings, typed."""

    gallery_bucket: str
    site_bucket: str
    document: str
    tag_key: str
    tag_value: str
    per_album: int
    margin_s: float

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> IngestConfig:
        """Read the table once; Misconfigured names a missing or malformed value."""
        env = os.environ if environ is None else environ
        values = {name: env.get(name, default) for name, default, _ in SETTINGS}
        for name in ("GALLERY_BUCKET", "SITE_BUCKET", "INGEST_DOCUMENT_NAME"):
            if not values[name]:
                raise Misconfigured(f"{name} is not set")
        try:
            per_album, margin = int(values["PER_ALBUM"]), float(values["INGEST_MARGIN_SECONDS"])
        except ValueError as e:
            raise Misconfigured(f"PER_ALBUM or INGEST_MARGIN_SECONDS is malformed: {e}") from e
        if per_album < 1:
            raise Misconfigured(f"PER_ALBUM must be at least 1, got {per_album}")
        return cls(values["GALLERY_BUCKET"], values["SITE_BUCKET"], values["INGEST_DOCUMENT_NAME"],
                   values["INSTANCE_TAG_KEY"], values["INSTANCE_TAG_VALUE"], per_album, margin)
