"""The `imagesearch` command: one module per command group and their shared helpers.

`imagesearch.cli.parser` (the console script) is the entry point in imagesearch.cli.main.
"""

from imagesearch.cli.parser import main

__all__ = ["main"]
