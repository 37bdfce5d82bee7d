"""`python -m devstack.add_images FOLDER`: put a folder of albums into the running local gallery.

The publisher's own gallery upload (one subfolder per album, names made safe, unchanged files
skipped) against the local stack's S3; the bucket's events then make the images searchable and
list them in their albums, as on AWS. `make demo` prints this command with its endpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack.s3server import client
from publish.collection import publish_gallery
from publish.uploader import PublishError


def main(argv: list[str] | None = None) -> int:
    """Upload the folder's albums to gallery/ of the local gallery bucket."""
    p = argparse.ArgumentParser(prog="python -m devstack.add_images", description=__doc__)
    p.add_argument("folder", type=Path, help="folder with one subfolder of images per album")
    p.add_argument("--endpoint", required=True, help="the local stack's S3 endpoint (make demo prints it)")
    p.add_argument("--bucket", default="imagesearch-local-gallery", help="gallery bucket")
    args = p.parse_args(argv)
    try:
        counts = publish_gallery(client("s3", args.endpoint), args.bucket, args.folder, progress=False)
    except PublishError as e:
        print(f"add_images: {e}", file=sys.stderr)
        return 1
    print(f"gallery  {counts}; new images are searchable and listed in their albums within a minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
