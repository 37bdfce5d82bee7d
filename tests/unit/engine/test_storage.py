"""The index storage interface, the same tests against a local folder and an S3 prefix (moto)."""

import json
import os

import numpy as np
import pytest
from imagesearch.errors import SearchError
from imagesearch.index.artifacts import load_version, new_version_id
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.manifest import ModeRule, assemble
from imagesearch.index.opened import OpenIndex
from imagesearch.index.storage import (
    LocalIndexStore,
    Pointer,
    PointerMoved,
    S3IndexStore,
    open_store,
    publish_version,
)

WEIGHTS = {"source": "seed:0", "sha256": "0" * 64, "pretrained": False}


def _version(n=30, seed=0):
    rng = np.random.default_rng(seed)
    keys = [f"gallery/a/{i:03d}.png" for i in range(n)]
    hashes = [f"{seed:02d}{i:062d}" for i in range(n)]
    return assemble(keys, hashes, rng.random((n, 2048)).astype(np.float16), weights=WEIGHTS, size=32,
                    lsh=LshBuildParams(tables=2), probes=3, mode_rule=ModeRule(0.95, 0.2))


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """A fresh index root: a local folder, or s3://gallery/index in moto."""
    if request.param == "local":
        return open_store(str(tmp_path / "idx"))
    return open_store("s3://gallery/index", s3=request.getfixturevalue("s3"))


def _put_pointer(store, body: bytes) -> None:
    if isinstance(store, LocalIndexStore):
        os.makedirs(store.root, exist_ok=True)
        with open(os.path.join(store.root, "current.json"), "wb") as f:
            f.write(body)
    else:
        store.s3.put_object(Bucket=store.bucket, Key=f"{store.prefix}/current.json", Body=body)


def test_publish_then_read_back(store, tmp_path):
    # GIVEN an empty root
    assert store.read_current() is None and store.list_versions() == []
    # WHEN two versions are published
    arrays, manifest = _version(seed=0)
    first = publish_version(store, arrays, manifest)
    second = publish_version(store, *_version(seed=1))
    # THEN the pointer names the last one, both are listed, each manifest reads alone
    assert store.read_current() == second and store.list_versions() == sorted([first, second])
    got = store.read_manifest(first)
    assert got["version"] == first and got["format_version"] == 1 and got["count"] == 30
    assert got["lsh"]["probes"] == 3 and set(got["files"]) == {f"{name}.npy" for name in arrays}
    # AND a local copy of a version loads whole, and equals what was written
    loaded, mapped = load_version(store.local_dir(first, cache_dir=str(tmp_path / "cache")))
    assert loaded["version"] == first
    assert all(np.array_equal(np.asarray(mapped[name]), arrays[name]) for name in arrays)
    store.fetch_version(second, str(tmp_path / "copy"))
    assert load_version(str(tmp_path / "copy"))[0]["version"] == second
    # AND an index opened through the store follows the pointer, its probe count a per-query choice
    index = OpenIndex.open(store, cache_dir=str(tmp_path / "cache"))
    assert index.version == second and index.default_probes == 3
    assert len(index.search_vector(index.vector(0), 5, mode="lsh", probes=50)) == 5
    with pytest.raises(SearchError) as e:
        index.search_vector(index.vector(0), 5, mode="lsh", probes=0)
    assert e.value.code == "bad_request"


def test_publish_without_moving_the_pointer(store):
    version = publish_version(store, *_version(), move_current=False)
    assert store.read_current() is None and store.list_versions() == [version]
    store.set_current(version)
    assert store.read_current() == version


@pytest.mark.parametrize("body", [b"not json", b"{}", json.dumps({"version": "../../etc"}).encode()])
def test_a_bad_pointer_is_index_unavailable(store, body):
    _put_pointer(store, body)
    with pytest.raises(SearchError) as e:
        store.read_current()
    assert e.value.code == "index_unavailable"


def test_bad_version_ids_and_missing_versions_are_refused(store, tmp_path):
    with pytest.raises(SearchError):
        store.set_current("../x")
    for call in (lambda: store.read_manifest(new_version_id()),
                 lambda: store.local_dir(new_version_id(), cache_dir=str(tmp_path / "c")),
                 lambda: store.read_manifest("../x")):
        with pytest.raises(SearchError) as e:
            call()
        assert e.value.code == "index_unavailable"


def test_s3_prefix_spellings_and_clients(s3, tmp_path):
    # "index", "index/" and the store built directly name the same root and read the same pointer
    version = publish_version(S3IndexStore(s3, "gallery", "index"), *_version())
    for root in ("s3://gallery/index", "s3://gallery/index/"):
        store = open_store(root, s3=s3)
        assert store.root == "s3://gallery/index" and store.read_current() == version
    with pytest.raises(SearchError) as e:
        open_store("s3://gallery/index")
    assert e.value.code == "bad_request"
    assert isinstance(open_store(str(tmp_path)), LocalIndexStore)


def test_s3_version_without_manifest_or_with_a_bad_array_is_unavailable(s3, tmp_path):
    store = S3IndexStore(s3, "gallery", "index")
    version = publish_version(store, *_version(), move_current=False)
    s3.put_object(Bucket="gallery", Key=f"index/{version}/vectors.npy", Body=b"tampered")
    with pytest.raises(SearchError, match="does not match its manifest hash") as e:
        store.local_dir(version, cache_dir=str(tmp_path / "c"))
    assert e.value.code == "index_unavailable"
    assert not os.path.exists(tmp_path / "c" / "index" / "gallery" / "index" / version)
    s3.delete_object(Bucket="gallery", Key=f"index/{version}/manifest.json")
    with pytest.raises(SearchError, match="no manifest"):
        store.read_manifest(version)


def test_s3_manifest_is_uploaded_after_the_arrays(s3):
    keys = []
    for operation in ("PutObject", "CreateMultipartUpload"):
        s3.meta.events.register(f"before-parameter-build.s3.{operation}",
                                lambda params, **_: keys.append(params["Key"]))
    version = publish_version(S3IndexStore(s3, "gallery", "index"), *_version())
    uploads = [k for k in keys if k.startswith(f"index/{version}/")]
    assert uploads[-1] == f"index/{version}/manifest.json" and len(uploads) == 9
    assert keys[-1] == "index/current.json"


def _ids(n):
    return [f"2024010{i + 1}T000000Z-00000{i}" for i in range(n)]


def test_publishing_keeps_the_newest_versions_and_the_live_one(store):
    # GIVEN five versions published with IMAGESEARCH_KEEP_VERSIONS=2
    ids = _ids(5)
    for i, version in enumerate(ids):
        arrays, manifest = _version(n=4, seed=i)
        publish_version(store, arrays, {**manifest, "version": version}, keep=2)
    # THEN only the newest two are left, the live one among them
    assert store.list_versions() == ids[-2:] and store.read_current() == ids[-1]
    # WHEN the operator rolls back to the older one and a new version is published without moving it
    store.set_current(ids[3])
    publish_version(store, *_version(n=4, seed=9), move_current=False)
    # THEN nothing was pruned (only a version that goes live prunes)
    assert len(store.list_versions()) == 3
    # WHEN pruning to one with an old version live
    from imagesearch.index.storage import prune_versions

    assert prune_versions(store, 1) == [ids[4]]
    # THEN the newest and the live one stay, and the live one still opens whole
    assert store.read_current() == ids[3] and ids[3] in store.list_versions()
    assert store.read_manifest(ids[3])["version"] == ids[3]


def test_s3_prune_deletes_every_object_of_a_version(s3):
    store = S3IndexStore(s3, "gallery", "index")
    ids = _ids(3)
    for i, version in enumerate(ids):
        arrays, manifest = _version(n=4, seed=i)
        publish_version(store, arrays, {**manifest, "version": version}, keep=1)
    left = {o["Key"].split("/")[1] for o in s3.list_objects_v2(Bucket="gallery", Prefix="index/")["Contents"]}
    assert left == {ids[-1], "current.json"}


def test_cache_prune_keeps_the_newest_and_the_protected(s3, tmp_path):
    store = S3IndexStore(s3, "gallery", "index")
    folder = store.cache_folder(str(tmp_path))
    ids = _ids(6)
    for version in ids:
        os.makedirs(os.path.join(folder, version))
    os.makedirs(os.path.join(folder, ".tmp-x"))  # a fetch in progress is not touched
    assert store.prune_cache(str(tmp_path), 2, {ids[0]}) == ids[1:4]
    assert sorted(os.listdir(folder)) == [".tmp-x", ids[0], *ids[4:]]
    assert open_store(str(tmp_path / "local")).prune_cache(str(tmp_path), 0, set()) == []


def test_a_conditional_switch_goes_through_only_from_the_pointer_it_read(store):
    # GIVEN a live version and the pointer as a re-index (or an ingest batch) read it
    publish_version(store, *_version(seed=0))
    seen = store.read_pointer()
    assert seen.version == store.read_current() and seen.tag
    # WHEN another build switches the pointer first
    winner = publish_version(store, *_version(seed=1))
    # THEN the switch from the stale read is refused: the winner stays live, the loser's version is gone
    with pytest.raises(PointerMoved, match="changed since it was read"):
        publish_version(store, *_version(seed=2), expect=seen)
    assert store.read_current() == winner and len(store.list_versions()) == 2
    # AND from a fresh read it goes through
    third = publish_version(store, *_version(seed=2), expect=store.read_pointer())
    assert store.read_current() == third


def test_a_conditional_first_switch_needs_the_root_still_without_a_pointer(store):
    empty = store.read_pointer()
    assert empty == Pointer(None, None)
    first = publish_version(store, *_version(seed=0))
    with pytest.raises(PointerMoved):
        store.set_current(first, expect=empty)
    assert store.read_current() == first
    # The same bytes again (a version named twice) keep the tag: a switch from it still goes through.
    assert store.read_pointer().tag == store.read_pointer().tag
