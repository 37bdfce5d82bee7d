"""S3 paths under moto: capped reads, build from and to S3, open and query from S3, weights from S3."""

import dataclasses
import hashlib
import os

import numpy as np
import pytest
from imagesearch import settings
from imagesearch.agent.querying import search_image_bytes
from imagesearch.errors import SearchError
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import open_store
from imagesearch.model.features import Featurizer
from imagesearch.ops.build import add_images, build_index
from imagesearch.s3io import parse_s3_uri, read_s3_capped

from .conftest import SIZE, png_bytes


def _upload_albums(s3, albums):
    for album in sorted(os.listdir(albums)):
        for name in sorted(os.listdir(os.path.join(albums, album))):
            s3.upload_file(os.path.join(albums, album, name), "gallery", f"gallery/{album}/{name}")


def test_parse_s3_uri():
    assert parse_s3_uri("s3://b/a/b.png") == ("b", "a/b.png")
    assert parse_s3_uri("s3://b") == ("b", "")
    for bad in ("b/a", "s3:///x"):
        with pytest.raises(SearchError):
            parse_s3_uri(bad)


def test_capped_reads(s3):
    s3.put_object(Bucket="gallery", Key="a.png", Body=b"x" * 100)
    assert read_s3_capped(s3, "gallery", "a.png", 100) == b"x" * 100
    with pytest.raises(SearchError) as e:
        read_s3_capped(s3, "gallery", "a.png", 99)
    assert e.value.code == "too_large"
    with pytest.raises(SearchError) as e:
        read_s3_capped(s3, "gallery", "missing.png", 99)
    assert e.value.code == "not_found"


def test_capped_read_never_takes_more_than_cap_plus_one():
    class Body:
        def __init__(self):
            self.taken = 0

        def read(self, n):
            self.taken += n
            return b"y" * n

        def close(self):
            pass

    body = Body()

    class Client:
        def get_object(self, **kw):
            return {"Body": body}  # no ContentLength: the stream itself must be capped

    with pytest.raises(SearchError):
        read_s3_capped(Client(), "b", "k", 1000)
    assert body.taken == 1001


def _small_lsh():
    config = BuildConfig.from_settings(settings.load())
    return dataclasses.replace(config, lsh=LshBuildParams(tables=4), probes=4)


def test_build_add_and_query_on_s3(s3, albums, featurizer, tmp_path):
    # GIVEN the gallery in S3, plus one bad object
    _upload_albums(s3, albums)
    s3.put_object(Bucket="gallery", Key="gallery/bad/x.png", Body=b"not an image")
    # WHEN building from S3 into an S3 index root
    root = "s3://gallery/index"
    report = build_index(
        "s3://gallery/gallery/",
        root,
        s3=s3,
        featurizer=featurizer,
        config=_small_lsh(),
        cache_dir=str(tmp_path / "c1"),
    )
    # THEN keys are the S3 keys, the bad object is reported, and the pointer is in S3
    assert report["count"] == 40 and report["skipped_by_reason"] == {"bad_image": 1}
    assert open_store(root, s3=s3).read_current() == report["version"]
    # AND an unchanged rebuild reads only the live manifest: no arrays are fetched into its cache
    same = build_index(
        "s3://gallery/gallery/",
        root,
        s3=s3,
        featurizer=featurizer,
        config=_small_lsh(),
        cache_dir=str(tmp_path / "c0"),
        if_changed=True,
    )
    assert same["unchanged"] is True and same["version"] == report["version"]
    assert not os.path.exists(tmp_path / "c0" / "index")
    searcher = OpenIndex.open(root, s3=s3, cache_dir=str(tmp_path / "c2"), featurizer=featurizer)
    data = s3.get_object(Bucket="gallery", Key="gallery/dots/dots_00002.png")["Body"].read()
    answer = search_image_bytes(searcher, data, 5, mode="exact")
    assert answer["query"] == {"sha256": hashlib.sha256(data).hexdigest()}
    assert [r["key"] for r in answer["results"]][0].startswith("gallery/")
    assert "gallery/dots/dots_00002.png" not in [r["key"] for r in answer["results"]]
    # AND a second open reuses the cached copy
    again = OpenIndex.open(root, s3=s3, cache_dir=str(tmp_path / "c2"))
    assert again.directory == searcher.directory
    # AND add works against S3 too
    s3.put_object(Bucket="gallery", Key="gallery/new/red.png", Body=png_bytes())
    added = add_images(
        "s3://gallery/gallery/", root, s3=s3, featurizer=featurizer, cache_dir=str(tmp_path / "c3")
    )
    assert added["added"] == 1 and added["count"] == 41


def test_missing_s3_index_is_unavailable(s3, tmp_path):
    with pytest.raises(SearchError) as e:
        OpenIndex.open("s3://gallery/index", s3=s3, cache_dir=str(tmp_path))
    assert e.value.code == "index_unavailable"
    s3.put_object(Bucket="gallery", Key="index/current.json", Body=b'{"version": "20240101T000000Z-abcdef"}')
    with pytest.raises(SearchError) as e:
        OpenIndex.open("s3://gallery/index", s3=s3, cache_dir=str(tmp_path))
    assert e.value.code == "index_unavailable"


def test_weights_from_s3(s3, featurizer, tmp_path):
    path = str(tmp_path / "w.params")
    featurizer.save_params(path)
    s3.upload_file(path, "gallery", "models/w.params")
    loaded = Featurizer.load(
        "s3://gallery/models/w.params", size=SIZE, s3=s3, cache_dir=str(tmp_path / "cache")
    )
    assert loaded.digest == featurizer.digest
    from imagesearch.model.sample_data import render

    assert np.array_equal(
        loaded.featurize_images([render("wood", 1)]), featurizer.featurize_images([render("wood", 1)])
    )
    with pytest.raises(SearchError) as e:
        Featurizer.load(
            "s3://gallery/models/none.params", size=SIZE, s3=s3, cache_dir=str(tmp_path / "cache")
        )
    assert e.value.code == "weights_unavailable"


def test_add_to_live_s3_index_refuses_images_the_gallery_does_not_hold(s3, albums, featurizer, tmp_path):
    # GIVEN a live S3 index built from the gallery bucket
    _upload_albums(s3, albums)
    root = "s3://gallery/index"
    built = build_index(
        "s3://gallery/gallery/", root, s3=s3, featurizer=featurizer, config=_small_lsh(),
        cache_dir=str(tmp_path / "c1"),
    )
    store = open_store(root, s3=s3)
    extra = tmp_path / "extra"
    # WHEN adding a local image whose key the gallery lacks
    os.makedirs(extra / "new")
    (extra / "new" / "red.png").write_bytes(png_bytes())
    with pytest.raises(SearchError) as e:
        add_images(str(extra), root, s3=s3, featurizer=featurizer, cache_dir=str(tmp_path / "c2"))
    # THEN the whole add is refused, naming the key, and the live version is unchanged
    assert e.value.code == "bad_request"
    assert "gallery/new/red.png (not_in_gallery)" in e.value.message
    assert store.read_current() == built["version"]
    # WHEN re-adding an indexed key with other bytes than the gallery holds
    album = sorted(os.listdir(albums))[0]
    name = sorted(os.listdir(os.path.join(albums, album)))[0]
    os.makedirs(extra / album)
    (extra / album / name).write_bytes(png_bytes((10, 200, 10)))
    with pytest.raises(SearchError) as e:
        add_images(str(extra), root, s3=s3, featurizer=featurizer, cache_dir=str(tmp_path / "c3"))
    # THEN it is refused too: the vector is not replaced while the gallery keeps the old bytes
    assert f"gallery/{album}/{name} (differs_from_gallery)" in e.value.message
    assert store.read_current() == built["version"]
    # WHEN the gallery is given the new bytes first
    s3.put_object(Bucket="gallery", Key="gallery/new/red.png", Body=png_bytes())
    s3.put_object(Bucket="gallery", Key=f"gallery/{album}/{name}", Body=png_bytes((10, 200, 10)))
    added = add_images(str(extra), root, s3=s3, featurizer=featurizer, cache_dir=str(tmp_path / "c4"))
    # THEN the add goes through
    assert (added["added"], added["replaced"], added["count"]) == (1, 1, 41)
