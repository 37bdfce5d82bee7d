"""Import the Lambda's own modules (functions/search is a flat folder, as Lambda packages it)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
FUNCTION_DIR = REPO / "functions" / "search"


def module(name: str) -> ModuleType:
    """A module of the search function, imported the way the Lambda runtime imports it."""
    if str(FUNCTION_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTION_DIR))
    return importlib.import_module(name)
