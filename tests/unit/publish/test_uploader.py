"""publish.uploader: idempotent concurrent uploads, against moto's in-process S3."""

from __future__ import annotations

import pytest

from publish.uploader import Counts, Item, PublishError, _unchanged, file_items, list_existing, sync

BUCKET = "bucket-under-test"


@pytest.fixture
def s3(s3_client):
    s3_client.create_bucket(Bucket=BUCKET)
    return s3_client


def test_uploads_then_skips_unchanged_and_resends_changed(s3, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.png").write_bytes(b"1" * 10)
    (tmp_path / "two.css").write_bytes(b"body{}")
    items = file_items(tmp_path, prefix="p/") + [Item(key="gen.js", data=b"export default 1;\n")]

    assert sync(s3, BUCKET, items, progress=False) == Counts(3, 0)
    assert sync(s3, BUCKET, items, progress=False) == Counts(0, 3)

    (tmp_path / "a" / "one.png").write_bytes(b"2" * 10)  # same size, other bytes
    assert sync(s3, BUCKET, file_items(tmp_path, prefix="p/"), progress=False) == Counts(1, 1)
    assert s3.get_object(Bucket=BUCKET, Key="p/a/one.png")["Body"].read() == b"2" * 10
    head = s3.head_object(Bucket=BUCKET, Key="gen.js")
    assert head["ContentType"].startswith("text/javascript")
    assert s3.head_object(Bucket=BUCKET, Key="p/two.css")["ContentType"].startswith("text/css")


def test_metadata_md5_proves_an_object_whose_etag_is_not_its_md5(s3):
    item = Item(key="big.bin", data=b"x" * 100)
    s3.put_object(Bucket=BUCKET, Key="big.bin", Body=item.data, Metadata={"md5": item.md5()})
    # As listed after a multipart upload: the ETag is not the content's MD5.
    assert _unchanged(s3, BUCKET, item, {"big.bin": (100, "0123abcd-2")})
    assert not _unchanged(s3, BUCKET, Item(key="big.bin", data=b"y" * 100), {"big.bin": (100, "0123abcd-2")})


def test_root_level_listing_does_not_walk_folders(s3):
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="results/gallery/a/b.png", Body=b"x")
    assert set(list_existing(s3, BUCKET, ["index.html"])) == {"index.html"}


def test_two_files_on_one_key_are_refused(s3):
    with pytest.raises(PublishError, match="same key: a.png"):
        sync(s3, BUCKET, [Item(key="a.png", data=b"1"), Item(key="a.png", data=b"2")], progress=False)


def test_missing_bucket_is_a_clear_error(s3):
    with pytest.raises(PublishError, match="cannot list s3://no-such-bucket"):
        sync(s3, "no-such-bucket", [Item(key="a.png", data=b"1")], progress=False)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a/.."])
def test_unsafe_keys_are_refused(key):
    with pytest.raises(ValueError, match="unsafe object key"):
        Item(key=key, data=b"x")


def test_an_item_needs_exactly_one_source(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        Item(key="a")
    with pytest.raises(ValueError, match="exactly one"):
        Item(key="a", data=b"x", path=tmp_path)


def test_file_items_skips_hidden_files_and_needs_a_folder(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / ".env").write_text("x")
    (tmp_path / "ok.html").write_text("x")
    assert [i.key for i in file_items(tmp_path)] == ["ok.html"]
    with pytest.raises(PublishError, match="is not a directory"):
        file_items(tmp_path / "missing")


def test_metadata_is_written_and_an_object_without_it_is_sent_again(s3):
    # GIVEN an object published before the sha256 metadata existed (same bytes, md5 only)
    plain = Item(key="albums/a/1.png", data=b"img")
    assert sync(s3, BUCKET, [plain], progress=False) == Counts(1, 0)
    tagged = Item(key="albums/a/1.png", data=b"img", metadata={"sha256": "ab" * 32})

    # WHEN it is published with metadata: sent again once, then unchanged
    assert sync(s3, BUCKET, [tagged], progress=False) == Counts(1, 0)
    assert sync(s3, BUCKET, [tagged], progress=False) == Counts(0, 1)
    assert s3.head_object(Bucket=BUCKET, Key="albums/a/1.png")["Metadata"] == {"sha256": "ab" * 32,
                                                                               "md5": plain.md5()}
