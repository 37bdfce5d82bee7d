"""The batch top-k of the cache warm-up equals the daemon's own search of each image alone."""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
from imagesearch import settings
from imagesearch.agent.querying import search_image_bytes
from imagesearch.index.batch_search import distinct_images, top_matches
from imagesearch.index.build_params import BuildConfig
from imagesearch.index.lsh import LshBuildParams
from imagesearch.index.opened import OpenIndex
from imagesearch.index.vectors import exact_search, rescore, shortlist_top_k
from imagesearch.model.images import content_hash
from imagesearch.ops.build import build_index


@pytest.fixture(scope="module")
def index_root(_albums_master, featurizer, tmp_path_factory) -> str:
    # GIVEN a small real index in which one image appears twice (same bytes under two keys)
    images = str(tmp_path_factory.mktemp("dup") / "albums")
    shutil.copytree(_albums_master, images)
    album = sorted(os.listdir(images))[0]
    first = sorted(os.listdir(os.path.join(images, album)))[0]
    shutil.copy(os.path.join(images, album, first), os.path.join(images, album, "copy_of_first.png"))
    root = str(tmp_path_factory.mktemp("index"))
    config = dataclasses.replace(BuildConfig.from_settings(settings.load()),
                                 lsh=LshBuildParams(tables=4, bits=3, seed=0), probes=4, threads=2)
    build_index(images, root, featurizer=featurizer, config=config)
    return root


@pytest.mark.parametrize("mode", ["exact", "lsh"])
@pytest.mark.parametrize("batch", [1, 7, 256])
def test_batch_top10_equals_the_daemons_answer_for_every_image(index_root, featurizer, mode, batch):
    index = OpenIndex.open(index_root, featurizer=featurizer)
    done = []
    got = dict(top_matches(index, k=10, mode=mode, batch=batch, progress=lambda d, t: done.append((d, t))))
    # One entry per distinct image (the duplicate pair shares one), progress reaching the total.
    assert len(got) == len(distinct_images(index)) == index.count - 1
    assert done[-1] == (len(got), len(got))
    for digest, row in distinct_images(index):
        alone = index.search_vector(index.vector(row), 10, mode=mode, exclude_hash=digest)
        assert got[digest] == alone  # keys, order and scores, bit for bit


def test_batch_answer_equals_search_image_of_the_bytes(index_root, _albums_master, featurizer):
    # The agent's answer for an album image's bytes is the warmed entry, self-exclusion included.
    index = OpenIndex.open(index_root, featurizer=featurizer)
    album = sorted(os.listdir(_albums_master))[0]
    path = os.path.join(_albums_master, album, sorted(os.listdir(os.path.join(_albums_master, album)))[0])
    data = open(path, "rb").read()
    digest = content_hash(data)
    got = dict(top_matches(index, hashes=[digest, "0" * 64]))
    assert list(got) == [digest]  # an image the index does not hold is left out
    answer = search_image_bytes(index, data, 10)
    # the batch search's matches are the answer's, which adds each one's band (issue 23)
    assert [{"key": r["key"], "score": r["score"]} for r in answer["results"]] == got[digest]
    assert all(not r["key"].endswith("copy_of_first.png") for r in got[digest])  # its copy is excluded too


def test_rescore_does_not_depend_on_what_else_is_scored():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((500, 64)).astype(np.float32)
    q = v[3]
    alone = [rescore(v, q, np.array([r]))[0] for r in range(500)]
    together = rescore(v, q, np.arange(500))
    assert alone == together.tolist()


def test_shortlist_keeps_the_exact_order_with_ties_broken_by_row():
    v = np.array([[1, 0], [0.6, 0.8], [0.6, 0.8], [0, 1]], dtype=np.float32)
    q = np.array([1, 0], dtype=np.float32)
    rows, scores = exact_search(v, q, 3, exclude=np.array([0]))
    assert rows.tolist() == [1, 2, 3] and scores[0] == scores[1]
    rows, _ = shortlist_top_k(v, q, np.array([0.6, 0.6, -np.inf], dtype=np.float32), np.array([2, 1, 3]), 2)
    assert rows.tolist() == [1, 2]
