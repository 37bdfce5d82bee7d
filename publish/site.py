"""The static page: the files of site/ plus a config.js naming the API URL."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, file_items, sync

CONFIG_KEY = "config.js"
# no-cache makes a browser (and CloudFront's managed CachingOptimized policy, past its 1 s minimum)
# revalidate, so a new publish is seen at once while unchanged files still answer 304.
SITE_CACHE_CONTROL = "no-cache"


# A config.js field name: a plain JavaScript identifier.
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def config_js(api_url: str, extra: Mapping[str, str] | None = None) -> str:
    """The ES module the page imports for its API URL (docs/contracts.md, "Site").

    `extra`: more string fields; only the local stack writes one (`localReindex`, docs/page.md)."""
    parsed = urlparse(api_url)
    local = api_url.startswith("/") and not api_url.startswith("//")
    if not local and (parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise PublishError(f"API URL must be http(s)://host/... or a path like /api, got {api_url!r}")
    # The page calls `${apiUrl}/search`; a trailing slash would make that `//search`.
    # json.dumps gives a valid JS string literal, whatever the URL holds.
    fields = {"apiUrl": api_url.rstrip("/"), **(extra or {})}
    bad = [name for name in fields if not _FIELD_RE.fullmatch(name)]
    if bad:
        raise PublishError(f"config.js field names must be identifiers, got {bad!r}")
    body = ", ".join(f"{name}: {json.dumps(str(value))}" for name, value in fields.items())
    return f"export default {{ {body} }};\n"


def site_items(site_dir: Path, api_url: str, config: Mapping[str, str] | None = None) -> list[Item]:
    """The site's files and the generated config.js (a config.js in site_dir is replaced)."""
    items = [i for i in file_items(site_dir, cache_control=SITE_CACHE_CONTROL) if i.key != CONFIG_KEY]
    items.append(Item(key=CONFIG_KEY, data=config_js(api_url, config).encode(),
                      cache_control=SITE_CACHE_CONTROL))
    return items


def publish_site(s3, site_bucket: str, site_dir: Path, api_url: str, *, progress: bool = True,
                 concurrency: int = DEFAULT_CONCURRENCY, config: Mapping[str, str] | None = None) -> Counts:
    """Upload site_dir and config.js (the API URL and `config`'s fields) to the site bucket's root."""
    return sync(s3, site_bucket, site_items(Path(site_dir), api_url, config), label="site",
                progress=progress, concurrency=concurrency)
