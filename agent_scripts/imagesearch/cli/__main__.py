"""`python -m imagesearch.cli`: the same entry point as the `imagesearch` console script."""

import sys

from imagesearch.cli import main

sys.exit(main())
