"""Weights files: where the verified pretrained file lives, what proves a file pretrained, its input size.

Nothing here downloads: `imagesearch weights fetch` (imagesearch.model.weights_fetch, operator tooling)
obtains and verifies the file once; the engine and the instance only read verified files.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from imagesearch.errors import SearchError

MODEL_NAME = "resnet50_v1"
# The resolution ResNet-50 v1 was trained at; features of pretrained weights are meant for it.
PRETRAINED_INPUT_SIZE = 224
# Seeded weights describe nothing learned, so a size only needs to be cheap (docs/engine.md).
SEEDED_INPUT_SIZE = 32
PROVENANCE_SUFFIX = ".json"
FETCHED_NAME = f"{MODEL_NAME}-pretrained.params"


def default_input_size(pretrained: bool) -> int:
    """The input size an index gets when the operator names none: 224 for pretrained weights, else 32."""
    return PRETRAINED_INPUT_SIZE if pretrained else SEEDED_INPUT_SIZE


def file_digest(path: str, algorithm: str) -> str:
    """The hex digest of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def zoo_sha1() -> str:
    """The SHA-1 the MXNet model zoo publishes for resnet50_v1 (its model_store table)."""
    from mxnet.gluon.model_zoo import model_store

    return model_store._model_sha1[MODEL_NAME]


def zoo_file_name() -> str:
    """The model zoo's own file name for resnet50_v1 (name-<first 8 hex of its SHA-1>.params)."""
    return f"{MODEL_NAME}-{zoo_sha1()[:8]}.params"


def models_dir() -> str:
    """MXNet's models folder ($MXNET_HOME/models): the zoo's file and the fetched file are kept here."""
    import mxnet as mx  # MXNet reads MXNET_HOME (settings table)

    return os.path.join(os.path.expanduser(mx.base.data_dir()), "models")


def fetched_path() -> str:
    """Where `weights fetch` caches the verified pretrained file for "pretrained" to find."""
    return os.path.join(models_dir(), FETCHED_NAME)


def provenance_path(path: str) -> str:
    """The provenance record written next to a fetched weights file."""
    return path + PROVENANCE_SUFFIX


def read_provenance(path: str) -> dict | None:
    """The provenance record of a weights file, or None when it has none."""
    try:
        with open(provenance_path(path), encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SearchError(
            "weights_unavailable", f"{provenance_path(path)} is not a readable record: {e}"
        ) from e
    return record if isinstance(record, dict) else None


def write_provenance(path: str, record: dict) -> str:
    """Write the provenance record next to `path`; return its path."""
    out = provenance_path(path)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    return out


def check_zoo_name(path: str) -> None:
    """Refuse a file named like the model zoo's resnet50_v1 whose SHA-1 is not the zoo's."""
    if os.path.basename(path) != zoo_file_name():
        return
    got, want = file_digest(path, "sha1"), zoo_sha1()
    if got != want:
        raise SearchError(
            "weights_unavailable",
            f"{path} is named as the MXNet model zoo's {MODEL_NAME} file but its SHA-1 is {got}, not the "
            f"zoo's published {want}: a truncated or substituted file; delete it and run "
            "`imagesearch weights fetch` again",
        )


def is_pretrained_file(path: str) -> bool:
    """Whether a weights file is known pretrained: the zoo's SHA-1, or a fetch record naming its sha256.

    Anything else is labelled not pretrained rather than guessed. The record is a label written
    by `weights fetch` after verifying the file, not a security boundary.
    """
    if file_digest(path, "sha1") == zoo_sha1():
        return True
    record = read_provenance(path)
    if not record or not record.get("pretrained"):
        return False
    got = file_digest(path, "sha256")
    if record.get("file_sha256") != got:
        raise SearchError(
            "weights_unavailable",
            f"{path} has sha256 {got}, but its fetch record {provenance_path(path)} names "
            f"{record.get('file_sha256')}: the file changed after it was verified; fetch it again",
        )
    return True


def pretrained_file() -> str:
    """The verified file "pretrained" names: the fetched one, else the zoo's own; never a download."""
    for path in (fetched_path(), os.path.join(models_dir(), zoo_file_name())):
        if os.path.isfile(path):
            check_zoo_name(path)
            if is_pretrained_file(path):
                return path
    raise SearchError(
        "weights_unavailable",
        f"no verified pretrained {MODEL_NAME} weights in {models_dir()}: run "
        f"`imagesearch weights fetch --out {fetched_path()}` on a machine with internet access "
        "(or put the model zoo's file there), pass --weights FILE.params or s3://bucket/key.params, "
        "or --weights seed:N for an offline index whose features are NOT pretrained",
    )


def check_params(arrays: dict[str, Any], expected: dict[str, tuple[int, ...]]) -> None:
    """Refuse a parameter set whose names or shapes differ from the network's, naming the differences."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    wrong = sorted(n for n in set(expected) & set(arrays) if tuple(arrays[n].shape) != tuple(expected[n]))
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[:3]})")
        if wrong:
            n = wrong[0]
            parts.append(f"{len(wrong)} with other shapes (e.g. {n}: {tuple(arrays[n].shape)} "
                         f"instead of {tuple(expected[n])})")
        raise SearchError("weights_unavailable", f"not {MODEL_NAME} parameters: " + "; ".join(parts))
