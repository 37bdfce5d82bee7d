"""The static page: the files of site/ plus a config.js naming the API URL."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

from publish.uploader import DEFAULT_CONCURRENCY, Counts, Item, PublishError, file_items, sync

CONFIG_KEY = "config.js"
# no-cache makes a browser (and CloudFront's managed CachingOptimized policy, past its 1 s minimum)
# revalidate, so a new publish is seen at once while unchanged files still answer 304.
SITE_CACHE_CONTROL = "no-cache"


def config_js(api_url: str) -> str:
    """The ES module the page imports for its API URL (docs/contracts.md, "Site")."""
    parsed = urlparse(api_url)
    local = api_url.startswith("/") and not api_url.startswith("//")
    if not local and (parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise PublishError(f"API URL must be http(s)://host/... or a path like /api, got {api_url!r}")
    # The page calls `${apiUrl}/search`; a trailing slash would make that `//search`.
    # json.dumps gives a valid JS string literal, whatever the URL holds.
    return f"export default {{ apiUrl: {json.dumps(api_url.rstrip('/'))} }};\n"


def site_items(site_dir: Path, api_url: str) -> list[Item]:
    """The site's files and the generated config.js (a config.js in site_dir is replaced)."""
    items = [i for i in file_items(site_dir, cache_control=SITE_CACHE_CONTROL) if i.key != CONFIG_KEY]
    items.append(Item(key=CONFIG_KEY, data=config_js(api_url).encode(), cache_control=SITE_CACHE_CONTROL))
    return items


def publish_site(s3, site_bucket: str, site_dir: Path, api_url: str, *, progress: bool = True,
                 concurrency: int = DEFAULT_CONCURRENCY) -> Counts:
    """Upload site_dir and config.js to the site bucket's root; return the counts."""
    return sync(s3, site_bucket, site_items(Path(site_dir), api_url), label="site",
                progress=progress, concurrency=concurrency)
