"""One table of keys, buckets and k values, fed to every deployable that checks them.

Three places refuse a bad value before it can reach a shell or a path: the template's SSM
`allowedPattern`s, the function's request validation (functions/search/keys.py) and the agent's
parsing (imagesearch.agent.protocol, used by the thin client and the daemon). Each keeps its own copy
of the patterns of docs/contracts.md; this test proves the copies accept and refuse the same values.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
from imagesearch.agent.protocol import search_request
from imagesearch.errors import SearchError

from publish.template import TEMPLATE, load_template, search_document

FUNCTIONS = TEMPLATE.parent / "functions"
GOOD = {"bucket": "my-site-bucket", "key": "albums/marble/marble_0001.png", "k": "5"}

KEYS = [
    # (case, key, accepted)
    ("plain", "albums/marble/marble_0001.png", True),
    ("no suffix", "albums/a/b", True),
    ("two suffixes", "albums/wood_1/img-0001.tar.gz", True),
    ("dash and underscore", "albums/A-b_9/F-1_x", True),
    ("longest parts", f"albums/{'a' * 64}/{'b' * 128}.{'c' * 16}", True),
    ("four suffixes", "albums/m/x.a.b.c.d", True),
    ("five suffixes", "albums/m/x.a.b.c.d.e", False),
    ("album too long", f"albums/{'a' * 65}/b.png", False),
    ("file too long", f"albums/a/{'b' * 129}", False),
    ("suffix too long", f"albums/a/b.{'c' * 17}", False),
    # "more like this": a result's gallery image (gallery bucket)
    ("gallery key", "gallery/marble/x.png", True),
    ("gallery longest parts", f"gallery/{'a' * 64}/{'b' * 128}.{'c' * 16}", True),
    ("gallery parent folder", "gallery/../index/current.json", False),
    ("gallery too deep", "gallery/marble/sub/x.png", False),
    ("results key", "results/gallery/marble/x.png", False),
    ("index key", "index/current.json", False),
    ("agent key", "agent/bootstrap.sh", False),
    # an upload (gallery bucket): uploads/ and exactly 32 lowercase hex digits
    ("upload", "uploads/0123456789abcdef0123456789abcdef", True),
    ("upload all zero", "uploads/" + "0" * 32, True),
    ("upload upper case", "uploads/0123456789ABCDEF0123456789ABCDEF", False),
    ("upload 31 digits", "uploads/" + "a" * 31, False),
    ("upload 33 digits", "uploads/" + "a" * 33, False),
    ("upload not hex", "uploads/" + "g" * 32, False),
    ("upload with suffix", "uploads/" + "a" * 32 + ".png", False),
    ("upload deeper", "uploads/" + "a" * 32 + "/x", False),
    ("upload album form", "uploads/marble/x.png", False),
    ("upload trailing newline", "uploads/" + "a" * 32 + "\n", False),
    ("upload parent", "uploads/../gallery/x.png", False),
    ("upload prefix only", "uploads/", False),
    ("prefix case", "Albums/marble/x.png", False),
    ("leading slash", "/albums/marble/x.png", False),
    ("no prefix", "marble/x.png", False),
    ("parent folder", "albums/../gallery/x.png", False),
    ("dot-dot file", "albums/a/..", False),
    ("dot-dot suffix", "albums/marble/x..png", False),
    ("trailing dot", "albums/a/b.png.", False),
    ("empty album", "albums//b.png", False),
    ("too deep", "albums/marble/sub/x.png", False),
    ("semicolon", "albums/a/b;rm", False),
    ("command substitution", "albums/a/$(id).png", False),
    ("backticks", "albums/a/`id`.png", False),
    ("shell text", "albums/marble/x.png; rm -rf /", False),
    ("inner newline", "albums/a/b\n.png", False),
    ("trailing newline", "albums/a/b.png\n", False),
    ("trailing CR", "albums/a/b.png\r", False),
    ("NUL", "albums/a/b.png\x00", False),
    ("space", "albums/a/b c.png", False),
    ("accented", "albums/marble/caf\u00e9.png", False),
    ("cyrillic a", "albums/m\u0430rble/x.png", False),
    ("fullwidth digit", "albums/a/\uff11.png", False),
    ("empty", "", False),
]

K_VALUES = [(str(n), 1 <= n <= 10) for n in range(-1, 13)] + [
    ("05", False), ("01", False), ("+5", False), ("5.0", False), ("5 ", False), (" 5", False),
    ("5\n", False), ("10\n", False), ("1 0", False), ("", False), ("\u0661", False), ("0x5", False),
]

BUCKETS = [
    ("my-site-bucket", True), ("abc", True), ("visual-image-search-sitebucket-1a2b3c4d5e6f", True),
    ("a" * 63, True), ("a" * 64, False), ("ab", False), ("My-Bucket", False), ("bucket.with.dots", False),
    ("-bucket", False), ("bucket-", False), ("b..c", False), ("b;ls", False), ("b$(id)", False),
    ("b`id`", False), ("bucket\n", False), ("my-site-bucket\nx", False), ("b\u00fccket", False), ("", False),
]


@pytest.fixture(scope="module")
def patterns() -> dict[str, str]:
    """The SearchDocument's allowedPattern per parameter, read from template.yaml."""
    parameters = search_document(load_template(TEMPLATE))["parameters"]
    return {name: spec["allowedPattern"] for name, spec in parameters.items()}


@pytest.fixture(scope="module")
def function():
    """The function's request validation, imported as Lambda imports it (its folder and the layer)."""
    for path in (FUNCTIONS / "shared", FUNCTIONS / "search"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import errors
    import validation

    return validation.parse_request, errors.BadRequest


def _template_accepts(patterns: dict[str, str], name: str, value: str) -> bool:
    # SSM checks the whole value; Python's `$` alone would also take one trailing newline.
    return re.fullmatch(patterns[name], value) is not None


def _agent_accepts(**values: object) -> bool:
    try:
        search_request(**{**GOOD, **values})
    except SearchError as e:
        assert e.code == "bad_request"
        return False
    return True


def _function_accepts(function, key: str, k: object) -> bool:
    # A caller names an upload by its id ({"upload": id}); the function turns it into uploads/<id>.
    parse_request, bad_request = function
    body = {"upload": key[len("uploads/"):], "k": k} if key.startswith("uploads/") else {"key": key, "k": k}
    try:
        request = parse_request(json.dumps(body))
    except bad_request as e:
        assert e.code in ("bad_key", "bad_k", "bad_upload")
        return False
    assert request.key == key  # the key the SSM document and the agent then receive
    return True


def test_the_function_names_uploads_only_by_id(function):
    # uploads/<id> reaches SSM only from {"upload": id}: a caller cannot pass it as a key
    parse_request, bad_request = function
    with pytest.raises(bad_request):
        parse_request(json.dumps({"key": "uploads/" + "a" * 32, "k": 5}))


@pytest.mark.parametrize(("case", "key", "accepted"), KEYS, ids=[c for c, _, _ in KEYS])
def test_every_side_takes_the_same_keys(patterns, function, case, key, accepted):
    assert _template_accepts(patterns, "key", key) is accepted
    assert _function_accepts(function, key, 5) is accepted
    assert _agent_accepts(key=key) is accepted


@pytest.mark.parametrize(("k", "accepted"), K_VALUES, ids=[repr(k) for k, _ in K_VALUES])
def test_every_side_takes_the_same_k(patterns, function, k, accepted):
    # SSM and the thin client see k as text; the page sends a JSON number, so the function gets the
    # number where the text is one, else the text itself (which it refuses: k must be an integer).
    as_json: object = int(k) if re.fullmatch(r"-?[0-9]+", k) and str(int(k)) == k else k
    assert _template_accepts(patterns, "k", k) is accepted
    assert _function_accepts(function, GOOD["key"], as_json) is accepted
    assert _agent_accepts(k=k) is accepted
    if isinstance(as_json, int):
        assert _agent_accepts(k=as_json) is accepted


@pytest.mark.parametrize(("bucket", "accepted"), BUCKETS, ids=[repr(b) for b, _ in BUCKETS])
def test_template_and_agent_take_the_same_buckets(patterns, bucket, accepted):
    # The function passes its own SITE_BUCKET setting, never a caller's bucket, so it has no pattern.
    assert _template_accepts(patterns, "bucket", bucket) is accepted
    assert _agent_accepts(bucket=bucket) is accepted


def test_the_table_covers_every_parameter_of_the_document(patterns):
    assert set(patterns) == {"bucket", "key", "k"}
