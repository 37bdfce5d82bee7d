"""Keys and safe names (docs/contracts.md)."""

import pytest
from imagesearch.keys import (
    BUCKET_RE,
    FILE_RE,
    K_RE,
    QUERY_KEY_RE,
    album_key,
    gallery_key,
    safe_album,
    safe_name,
)


@pytest.mark.parametrize("name", ["x.png", "marble_00001.png", "a-b_c.tar.gz", "A1"])
def test_safe_names_are_kept(name):
    assert safe_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "a b.png",
        "../etc/passwd",
        "$(rm -rf).jpg",
        "café.png",
        "",
        ".hidden",
        "a..b",
        "x.1.2.3.4.5.6.png",
        "x" * 300 + ".png",
        "a.png;rm",
        "ü" * 20,
    ],
)
def test_unsafe_names_are_rewritten_idempotently(name):
    out = safe_name(name)
    assert FILE_RE.match(out)
    assert safe_name(out) == out
    assert safe_name(name) == out  # deterministic


def test_rewritten_names_do_not_collide():
    assert safe_name("a b.png") != safe_name("a_b.png")
    assert safe_name("a b.png") != safe_name("a+b.png")


@pytest.mark.parametrize("album", ["summer.2020", "a/b", "x" * 100, "", "ok-album"])
def test_albums_fit_the_album_set(album):
    out = safe_album(album)
    assert safe_name(album, kind="album") == out
    assert "." not in out and "/" not in out and 1 <= len(out) <= 64


def test_keys_match_the_query_pattern():
    key = album_key("my album", "photo 1.JPG")
    assert QUERY_KEY_RE.match(key)
    assert gallery_key("my album", "photo 1.JPG") == "gallery/" + key[len("albums/") :]
    assert gallery_key("marble", "x.png") == "gallery/marble/x.png"


@pytest.mark.parametrize(
    ("regex", "good", "bad"),
    [
        (K_RE, ["1", "9", "10"], ["0", "11", "01", "1 "]),
        (BUCKET_RE, ["my-bucket", "abc"], ["My-bucket", "a.b.c", "-ab", "ab"]),
        (
            QUERY_KEY_RE,
            ["albums/marble/x.png", "gallery/marble/x.png", "uploads/" + "a" * 32],
            ["albums/../x.png", "results/gallery/marble/x.png", "albums/a/x..png", "uploads/x.png"],
        ),
    ],
)
def test_contract_patterns(regex, good, bad):
    assert all(regex.match(g) for g in good)
    assert not any(regex.match(b) for b in bad)
