"""The thin client's cold path: the search in this process when the warm daemon cannot answer.

Imported only when the daemon is down or silent, so the warm path never loads numpy, MXNet or
boto3. The answer is the daemon's own (imagesearch.agent.querying), so callers cannot tell them apart
except by `path` and the slower `timings_ms.total`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imagesearch.agent.protocol import Request
from imagesearch.settings import Settings


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While the engine runs in-process, anything it (or MXNet's C++ side) prints goes to stderr.

    stdout must carry exactly one JSON object, so file descriptor 1 itself is redirected.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def search_cold(request: Request, settings: Settings, *, s3: Any = None) -> dict:
    """Run the search in this process: open the live index, fetch the image, search. Slow but sure."""
    from imagesearch.agent.querying import make_s3_client, search_s3_image
    from imagesearch.s3vectors.opened import index_opener

    started = time.perf_counter()
    s3 = s3 if s3 is not None else make_s3_client(4)
    with tempfile.TemporaryDirectory(prefix="imagesearch-cold-") as scratch:
        # Under SSM this runs as root: keep its own cache rather than writing into the daemon's.
        index = index_opener(settings)(settings.index, s3=s3, cache_dir=settings.cold_cache_dir or scratch)
        answer = search_s3_image(index, s3, request, max_bytes=settings.max_image_bytes,
                                 allowed_buckets=settings.allowed_buckets)
    # The cold total includes opening the index (and loading the model, for a new image).
    answer["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 3)
    return answer
