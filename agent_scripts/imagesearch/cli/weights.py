"""`imagesearch weights fetch`: the operator's command around imagesearch.model.weights_fetch."""

from __future__ import annotations

import argparse
from typing import Any

from imagesearch.cli.common import print_json
from imagesearch.model.weights import FETCHED_NAME, fetched_path
from imagesearch.model.weights_fetch import DEFAULT_TIMEOUT_S, ONNX_ZOO_URL, fetch_weights


def run_weights_fetch(args: argparse.Namespace, settings: Any) -> int:
    """Fetch, verify and record the weights; print the report (every source tried and why it failed)."""
    report = fetch_weights(
        args.out or fetched_path(),
        named=args.source,
        mxnet_zoo=not args.no_mxnet_zoo,
        onnx_url=None if args.no_onnx_zoo else args.onnx_url,
        timeout=args.timeout,
    )
    print_json(report)
    return 0


def add_weights_commands(sub: Any) -> None:
    """Register `weights fetch`."""
    weights = sub.add_parser("weights", help="obtain and verify pretrained weights (operator machine)")
    wsub = weights.add_subparsers(dest="weights_command", required=True, metavar="{fetch}")
    p = wsub.add_parser(
        "fetch",
        help="get resnet50_v1 weights once, verify them and record where they came from",
        description="Try, in order: --from, the MXNet model zoo (MXNET_GLUON_REPO for a mirror; SHA-1 "
        "checked), the ONNX model zoo's resnet50-v1-7 (converted). Verify names and shapes; write FILE "
        "and FILE.json (source, sha256, sha1).",
    )
    # The default is resolved when the command runs: it asks MXNet for its folder, and importing
    # MXNet (1.5 s) to build the parser cost every command, `health` and `index info` included.
    p.add_argument("--out", default=None,
                   help=f"where to write the .params file (default: where --weights pretrained looks, "
                        f"$MXNET_HOME/models/{FETCHED_NAME})")
    p.add_argument("--from", dest="source", default=None,
                   help="a URL or file you trust: .params, the zoo's .zip, or an .onnx to convert")
    p.add_argument("--no-mxnet-zoo", action="store_true", help="skip the MXNet model zoo")
    p.add_argument("--onnx-url", default=ONNX_ZOO_URL, help="the ONNX model zoo's resnet50-v1-7 file")
    p.add_argument("--no-onnx-zoo", action="store_true", help="skip the ONNX model zoo")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per download")
    p.set_defaults(func=run_weights_fetch)
