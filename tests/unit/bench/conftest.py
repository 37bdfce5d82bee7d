"""The bench is a folder of scripts, not a package: put it on sys.path, and share a tiny index."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))


@pytest.fixture(scope="session")
def tiny_collection(tmp_path_factory) -> Path:
    """30 generated 28 px images in labelled albums."""
    from imagesearch.model import sample_data

    images = tmp_path_factory.mktemp("images")
    sample_data.generate(str(images), count=30, seed=0)
    return images


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory, tiny_collection) -> Path:
    """An index of the tiny collection at 32 px, built by the engine with seeded weights."""
    from imagesearch.ops.build import build_index

    work = tmp_path_factory.mktemp("work")
    weights = "seed:0"
    root = work / "index"
    build_index(str(tiny_collection), str(root), weights=weights, size=32, cache_dir=str(work / "cache"))
    return root
