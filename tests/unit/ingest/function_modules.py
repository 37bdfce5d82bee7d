"""Import a function's modules by their own names, as its Lambda does, without leaving them in
sys.modules: the search function has modules of the same names (app, settings, keys) and both
functions' tests run in one pytest process."""

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
