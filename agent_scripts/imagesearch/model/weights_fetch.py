"""Pretrained resnet50_v1 weights obtained once, verified, with a record (`imagesearch weights fetch`).

Operator tooling (run where there is internet access, never on the instance). Sources, in order:
a URL or file the operator names; the MXNet model zoo (MXNET_GLUON_REPO for a mirror; the file
must have the zoo's published SHA-1); the ONNX model zoo's resnet50-v1-7 converted to Gluon
parameters. Whatever a source gives is verified (parameter names and shapes against the network,
and MXNet must load it) before it replaces the output; the record next to it names the source and
the hashes. The engine's "pretrained" reads that file and never downloads (imagesearch.model.weights).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from imagesearch import settings
from imagesearch.errors import SearchError
from imagesearch.model.weights import (
    MODEL_NAME,
    check_params,
    check_zoo_name,
    fetched_path,
    file_digest,
    write_provenance,
    zoo_file_name,
    zoo_sha1,
)

ONNX_ZOO_URL = (
    "https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/resnet50-v1-7.onnx"
)
DEFAULT_TIMEOUT_S = 120.0

Opener = Callable[..., Any]


def zoo_url(environ: Mapping[str, str] = os.environ) -> str:
    """The MXNet model zoo's URL of resnet50_v1 (MXNET_GLUON_REPO, else the zoo's own repository)."""
    from mxnet.gluon.model_zoo import model_store

    repo = settings.get("MXNET_GLUON_REPO", environ) or model_store.apache_repo_url
    repo = repo if repo.endswith("/") else repo + "/"
    return f"{repo}gluon/models/{zoo_file_name()[: -len('.params')]}.zip"


def _is_url(where: str) -> bool:
    return urllib.parse.urlsplit(where).scheme in ("http", "https", "file")


def _download(url: str, dest: str, opener: Opener, timeout: float) -> None:
    with opener(url, timeout=timeout) as resp, open(dest, "wb") as f:
        shutil.copyfileobj(resp, f, length=1 << 20)


def _obtain(where: str, tmp: str, opener: Opener, timeout: float) -> str:
    """A local copy of `where` (URL or path) in tmp, keeping its file name."""
    name = os.path.basename(urllib.parse.urlsplit(where).path if _is_url(where) else where) or "download"
    dest = os.path.join(tmp, name)
    if _is_url(where):
        _download(where, dest, opener, timeout)
    else:
        shutil.copyfile(where, dest)
    return dest


def _to_params(path: str, tmp: str) -> str:
    """A .params file from what a source gave: the file itself, the one in a zip, or a converted .onnx."""
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            inside = [n for n in zf.namelist() if n.endswith(".params")]
            if len(inside) != 1:
                raise SearchError("weights_unavailable", f"{path} holds {len(inside)} .params files, not one")
            out = os.path.join(tmp, os.path.basename(inside[0]))
            with zf.open(inside[0]) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
            return out
    if path.endswith(".onnx"):
        from imagesearch.model.onnx_convert import onnx_to_params

        out = os.path.join(tmp, f"{MODEL_NAME}-from-onnx.params")
        onnx_to_params(path, out)
        return out
    return path


def verify_params_file(path: str) -> dict:
    """Check a .params file's names and shapes against resnet50_v1 and that MXNet loads it; its hashes."""
    import mxnet as mx

    from imagesearch.model.onnx_convert import expected_shapes, reference_network

    check_zoo_name(path)
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError as e:
        raise SearchError("weights_unavailable", f"{path} is not an MXNet parameter file: {e}") from e
    if not isinstance(arrays, dict):
        raise SearchError("weights_unavailable", f"{path} holds an unnamed list of arrays, not parameters")
    net = reference_network()
    check_params(arrays, expected_shapes(net))
    net.load_parameters(path, ctx=mx.cpu())  # the loader the engine uses must accept it too
    sha1 = file_digest(path, "sha1")
    return {
        "model": MODEL_NAME,
        "parameters": len(arrays),
        "file_sha256": file_digest(path, "sha256"),
        "sha1": sha1,
        "mxnet_zoo_sha1_match": sha1 == zoo_sha1(),
        "bytes": os.path.getsize(path),
    }


def fetch_weights(
    out: str,
    *,
    named: str | None = None,
    mxnet_zoo: bool = True,
    onnx_url: str | None = ONNX_ZOO_URL,
    opener: Opener = urllib.request.urlopen,
    timeout: float = DEFAULT_TIMEOUT_S,
    environ: Mapping[str, str] = os.environ,
) -> dict:
    """Try each source in order; write the first verified file to `out` with its record; the report.

    Raises SearchError("weights_unavailable") naming why every source failed.
    """
    sources: list[tuple[str, str]] = []
    if named:
        sources.append(("named", named))
    if mxnet_zoo:
        sources.append(("mxnet-zoo", zoo_url(environ)))
    if onnx_url:
        sources.append(("onnx-zoo", onnx_url))
    if not sources:
        raise SearchError("bad_request", "no weights source left to try (name one with --from)")
    attempts = []
    for kind, where in sources:
        with tempfile.TemporaryDirectory(prefix="weights-fetch-") as tmp:
            try:
                params = _to_params(_obtain(where, tmp, opener, timeout), tmp)
                record = verify_params_file(params)
                if kind == "mxnet-zoo" and not record["mxnet_zoo_sha1_match"]:
                    raise SearchError(
                        "weights_unavailable",
                        f"SHA-1 {record['sha1']} is not the zoo's published {zoo_sha1()} for {MODEL_NAME}",
                    )
            except (SearchError, OSError, urllib.error.URLError, zipfile.BadZipFile, ValueError) as e:
                reason = e.message if isinstance(e, SearchError) else f"{type(e).__name__}: {e}"
                attempts.append({"source": kind, "where": where, "ok": False, "error": reason})
                continue
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            shutil.move(params, out)
        record.update(
            pretrained=True,
            source=kind,
            where=where,
            fetched=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        write_provenance(out, record)
        attempts.append({"source": kind, "where": where, "ok": True})
        return {"ok": True, "out": out, "record": record, "attempts": attempts}
    raise SearchError(
        "weights_unavailable",
        "no source gave verified weights: "
        + "; ".join(f"{a['source']} ({a['where']}): {a['error']}" for a in attempts),
    )


def ensure_pretrained(**kwargs: Any) -> str:
    """The verified pretrained file "pretrained" names, fetched once (cached) when absent."""
    from imagesearch.model.weights import pretrained_file

    try:
        return pretrained_file()
    except SearchError:
        return fetch_weights(fetched_path(), **kwargs)["out"]
