"""What albums.json carries beside the albums: its name, cache rules and the index summary."""

from __future__ import annotations

import posixpath

# The result cache warm-up's "albums" scope: the first N browsable images of each album.
DEFAULT_PER_ALBUM = 48
ALBUMS_JSON = "albums.json"
# Files a browser could show as they are (the warm-up's album scope); the page itself shows only
# the display copies (thumbs/, previews/), made for every image the index accepted.
BROWSABLE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})
IMAGE_CACHE_CONTROL = "public, max-age=86400"
LISTING_CACHE_CONTROL = "no-cache"


def is_browsable(name: str) -> bool:
    """Whether a browser shows a file of this name (by its suffix)."""
    return posixpath.splitext(name)[1].lower() in BROWSABLE_SUFFIXES


def index_summary(manifest: dict) -> dict:
    """albums.json's `index` object {version, count, mode, pretrained, demo, weights_label}: the label
    names the weights actually used (seeded: demo; a file: its sha256 prefix)."""
    weights = manifest.get("weights") or {}
    pretrained = bool(weights.get("pretrained"))
    source = str(weights.get("source", "?"))
    demo = source.startswith("seed:")
    file_hash = str(weights.get("file_sha256", ""))[:12]
    if demo:
        label = f"demo weights, not pretrained ({source})"
    elif pretrained:
        label = "pretrained ImageNet weights" + (f" (sha256 {file_hash})" if file_hash else "")
    else:
        label = f"weights file sha256 {file_hash or '?'}, not known to be pretrained"
    return {"version": manifest.get("version"), "count": manifest.get("count"),
            "mode": manifest.get("default_mode"), "pretrained": pretrained, "demo": demo,
            "weights_label": label}
