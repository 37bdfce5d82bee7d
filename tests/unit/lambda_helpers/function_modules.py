"""Import a function's modules by their own names, as its Lambda does, without leaving them in
sys.modules: the functions have modules of the same names (app, batch, settings, keys) and every
function's tests run in one pytest process. The ingest and featurize tests' conftests put this
folder on sys.path."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

REPO = Path(__file__).resolve().parents[3]
SHARED_DIR = REPO / "functions" / "shared"


def import_function(folder: Path, *names: str) -> SimpleNamespace:
    """The named modules of the function in `folder` (its layer beside it), each by its own name."""
    own = {path.stem for path in folder.glob("*.py")}

    def owned(name: str) -> bool:
        return name.partition(".")[0] in own

    saved: dict[str, ModuleType] = {n: sys.modules.pop(n) for n in list(sys.modules) if owned(n)}
    paths = [str(folder), str(SHARED_DIR)]
    sys.path[:0] = paths
    try:
        return SimpleNamespace(**{name: importlib.import_module(name) for name in names})
    finally:
        del sys.path[:len(paths)]
        for name in [n for n in sys.modules if owned(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


def ingest_modules() -> SimpleNamespace:
    """The ingest function's modules: app, batch, keys, settings, s3_events."""
    return import_function(REPO / "functions" / "ingest", "app", "batch", "keys", "settings", "s3_events")


def featurize_modules() -> SimpleNamespace:
    """The featurize function's modules: app, batch, model, request, settings, shard."""
    return import_function(REPO / "functions" / "featurize", "app", "batch", "model", "request", "settings",
                           "shard")
