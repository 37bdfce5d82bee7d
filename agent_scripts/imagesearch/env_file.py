"""The instance's env file (/etc/imagesearch.env): KEY=VALUE lines read as data, never by a shell.

SSM Run Command passes the thin client no environment besides the SSM_* inputs, so the client
fills in the settings it lacks from the same file the systemd unit reads.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from imagesearch.settings import SETTINGS

# Variables the env file may provide besides the settings table (boto3 reads these itself).
EXTRA_NAMES = ("AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def load_env_file(path: str, environ: MutableMapping[str, str] = os.environ) -> None:
    """Fill in settings the environment lacks from a KEY=VALUE file (parsed here, never by a shell)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, PermissionError):
        return  # the file is optional: without it the settings table's defaults apply
    known = {s.name for s in SETTINGS} | set(EXTRA_NAMES)
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if name in known and name not in environ:
            environ[name] = value
