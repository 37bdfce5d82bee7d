"""The daemon keeps IMAGESEARCH_KEEP_VERSIONS cached index versions besides the loaded one."""

from __future__ import annotations

import os
from types import SimpleNamespace

from imagesearch.agent.daemon import DaemonConfig
from imagesearch.agent.live_index import LiveIndex
from imagesearch.index.storage import S3IndexStore
from imagesearch.settings import load

ROOT = "s3://gallery/index"


def _ids(n):
    return [f"2024010{i + 1}T000000Z-00000{i}" for i in range(n)]


def test_each_reload_deletes_cached_versions_beyond_the_newest_kept(tmp_path):
    # GIVEN a cache holding copies of five versions (each as big as the index) fetched by the daemon
    cache = str(tmp_path / "cache")
    folder = S3IndexStore(object(), "gallery", "index").cache_folder(cache)
    ids = _ids(6)
    for version in ids[:5]:
        os.makedirs(os.path.join(folder, version))
    pointer = [ids[0]]

    def open_index(root, *, version, **_):
        os.makedirs(os.path.join(folder, version), exist_ok=True)  # what OpenIndex.open fetches
        return SimpleNamespace(version=version, count=0, featurizer=None)

    live = LiveIndex(ROOT, s3=object(), cache_dir=cache, open_index=open_index,
                     read_pointer=lambda root, s3: pointer[0], keep_versions=2)
    # WHEN the daemon loads the oldest, then the newest version
    assert live.reload()["changed"]
    pointer[0] = ids[5]
    assert live.reload()["changed"]
    # THEN the newest two stay, and the previous one (in-flight queries may still read it)
    assert sorted(os.listdir(folder)) == [ids[0], ids[4], ids[5]]


def test_keep_versions_is_a_setting_with_default_three():
    assert load({}).keep_versions == 3 and DaemonConfig.from_settings(load({})).keep_versions == 3
    assert load({"IMAGESEARCH_KEEP_VERSIONS": "0"}).keep_versions == 0
