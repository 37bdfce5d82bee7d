"""Warming the result cache at publish: entries equal the agent's answers, old versions pruned."""

from __future__ import annotations

import hashlib
import json

import cache_entries as entries
import pytest

from publish.cache_warm import MARKER, cached_versions, warm_cache, warm_counts
from publish.collection import album_hashes

GALLERY = "gallery-under-test"
OLD = "20200101T000000Z-000000"


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    from imagesearch.model.sample_data import generate

    out = tmp_path_factory.mktemp("albums")
    generate(str(out), count=20, seed=3)  # 10 albums x 2 images
    return out


@pytest.fixture
def gallery(s3_client, monkeypatch, collection, tmp_path):
    """moto S3 with the collection indexed at s3://<gallery>/index (seeded 32 px weights)."""
    import dataclasses

    from imagesearch import settings
    from imagesearch.index.build_params import BuildConfig
    from imagesearch.index.lsh import LshBuildParams
    from imagesearch.model.features import Featurizer
    from imagesearch.ops.build import build_index

    monkeypatch.delenv("IMAGESEARCH_MODE", raising=False)
    s3 = s3_client
    s3.create_bucket(Bucket=GALLERY)
    featurizer = Featurizer.load("seed:0", size=32, batch_size=8)
    config = dataclasses.replace(BuildConfig.from_settings(settings.load()),
                                 lsh=LshBuildParams(tables=4, bits=3), probes=4, threads=2)
    build_index(str(collection), f"s3://{GALLERY}/index", s3=s3, featurizer=featurizer, config=config,
                cache_dir=str(tmp_path / "build"))
    return s3


def _entries(s3, version):
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=GALLERY, Prefix=f"cache/{version}/")["Contents"]]
    return {k.rsplit("/", 1)[1].removesuffix(".json"): json.loads(s3.get_object(Bucket=GALLERY, Key=k)
                                                                  ["Body"].read()) for k in keys}


def test_every_indexed_image_gets_the_agents_answer_and_old_versions_go(gallery, collection, tmp_path):
    from imagesearch.agent.querying import search_image_bytes
    from imagesearch.index.opened import OpenIndex

    # GIVEN an entry of an older version
    gallery.put_object(Bucket=GALLERY, Key=entries.entry_key(OLD, "a" * 64), Body=b"{}")

    # WHEN the cache is warmed
    report = warm_cache(gallery, GALLERY, work_dir=tmp_path / "w", progress=False)

    # THEN every image has its entry, equal to the agent's answer for its bytes, and the old one is gone
    assert report.pruned == 1 and cached_versions(gallery, GALLERY) == [report.version]
    found = _entries(gallery, report.version)
    assert set(found) == {MARKER.removesuffix(".json")} | {h for h in found if len(h) == 64}
    index = OpenIndex.open(f"s3://{GALLERY}/index", s3=gallery, cache_dir=str(tmp_path / "q"))
    assert report.entries == index.count == len(found) - 1
    for path in sorted(collection.rglob("*.png")):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        answer = search_image_bytes(index, data, 10)
        entry = entries.decode_entry(json.dumps(found[digest]).encode(), report.version, digest)
        assert entry["results"] == answer["results"]
        assert entry["index"] == answer["index"] and entry["source"] == "warm"

    # A second publish of the same version does nothing.
    again = warm_cache(gallery, GALLERY, work_dir=tmp_path / "w", progress=False)
    assert again.skipped and warm_counts(again).skipped == 1


def test_albums_scope_warms_only_the_album_images(gallery, collection, tmp_path):
    hashes = album_hashes(collection, per_album=1)
    report = warm_cache(gallery, GALLERY, work_dir=tmp_path / "w", hashes=hashes, progress=False)
    assert report.entries == len(hashes) == 10
    assert set(_entries(gallery, report.version)) == set(hashes) | {"warm"}


def test_no_index_no_warm(s3_client):
    s3_client.create_bucket(Bucket=GALLERY)
    assert warm_cache(s3_client, GALLERY, progress=False).skipped
