"""The key patterns and the k range of docs/contracts.md, the function's one copy.

The function ships without the agent's code, so it keeps its own; a test feeds one table of keys
to these, to the template's SSM `allowedPattern`s and to the agent's parsing, and checks they agree.
Always match with `fullmatch`: Python's `$` also matches before a trailing newline.
"""

from __future__ import annotations

import re

# A query image, as the SSM `key` parameter carries it: an album image (site bucket), a gallery
# image ("more like this") or an upload (gallery bucket). Callers name uploads by id, never by key.
QUERY_KEY = re.compile(
    r"^((albums|gallery)/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}|uploads/[0-9a-f]{32})$")
# An upload id (POST /uploads): 32 lowercase hex digits, so uploads/<id> carries no path or shell syntax.
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# A match in the gallery bucket, as the agent answers it; it becomes part of a copy key.
GALLERY_KEY = re.compile(r"^gallery/[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{1,16}){0,4}$")
# How many matches a search may ask for (the SSM `k` parameter's pattern is ^([1-9]|10)$).
K_MIN, K_MAX = 1, 10
