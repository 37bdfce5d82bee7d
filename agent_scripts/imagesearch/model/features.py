"""ResNet-50 (MXNet Gluon) image features: weight sources, preprocessing, batched featurization."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any

import image_prep
import numpy as np
from PIL import Image

from imagesearch.errors import SearchError
from imagesearch.model.images import file_sha256
from imagesearch.model.weights import (
    MODEL_NAME,
    PROVENANCE_SUFFIX,
    check_zoo_name,
    default_input_size,
    is_pretrained_file,
    pretrained_file,
    provenance_path,
)
from imagesearch.s3io import download_file, get_bytes, is_s3_uri, parse_s3_uri

FEATURE_DIM = 2048


def _mx():
    # MXNet takes about a second to import; only code that featurizes pays for it.
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision

    return mx, vision


def params_digest(net: Any) -> str:
    """A sha256 over the network's parameters by structural name, shape and float32 bytes.

    Independent of the file format and of Gluon's per-process name prefixes, so a featurizer
    rebuilt from the manifest can prove it computes the same function as the one that built it.
    """
    h = hashlib.sha256()
    params = net._collect_params_with_prefix()  # structural names, as save_parameters writes them
    for name in sorted(params):
        arr = params[name].data().asnumpy().astype(np.float32, copy=False)
        h.update(name.encode())
        h.update(str(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def inference_network() -> Any:
    """An uninitialised resnet50_v1 whose parameters keep no gradient buffers.

    Gluon gives every trainable parameter a gradient array as large as its data when it is
    initialised or loaded (grad_req "write"); the engine only runs forward passes, and those
    arrays were 98 MiB of the daemon's anonymous memory (docs/benchmarks.md, growth section).
    """
    _, vision = _mx()
    net = vision.resnet50_v1(pretrained=False)
    net.collect_params().setattr("grad_req", "null")
    return net


def seeded_network(seed: int) -> Any:
    """A resnet50_v1 with Xavier-style random weights drawn by numpy from `seed`.

    MXNet's own initialisers draw from per-thread generators, so with several OpenMP threads the
    same seed can give different weights in different processes; numpy's generator, fed one
    parameter at a time in structural-name order, gives the same network everywhere.
    """
    mx, _ = _mx()
    net = inference_network()
    net.initialize(mx.init.Zero(), ctx=mx.cpu())  # placeholders; every random weight is set below
    # Shapes by inference, not by a forward pass: a forward at any size leaves ~140 MiB of oneDNN
    # buffers for that size in the process (docs/benchmarks.md, growth section).
    net.infer_shape(mx.nd.zeros((1, 3, 32, 32)))
    rng = np.random.default_rng(seed)
    params = net._collect_params_with_prefix()
    for param in params.values():
        param._finish_deferred_init()  # allocate now that every shape is known
    for name in sorted(params):
        param = params[name]
        shape = param.shape
        if name.endswith("gamma") or name.endswith("running_var"):
            value = np.ones(shape, dtype=np.float32)
        elif len(shape) >= 2 and name.endswith("weight"):
            receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
            fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
            scale = np.sqrt(3.0 / ((fan_in + fan_out) / 2.0))  # MXNet's Xavier default (uniform, avg, 3)
            value = rng.uniform(-scale, scale, size=shape).astype(np.float32)
        else:  # biases, beta, running_mean
            value = np.zeros(shape, dtype=np.float32)
        param.set_data(mx.nd.array(value))
    return net


class Featurizer:
    """ResNet-50 v1 `features` (2048-d) at a fixed square input size, with known weights."""

    def __init__(self, net: Any, *, size: int, weights: dict, batch_size: int = 64) -> None:
        if size < 32:
            raise SearchError(
                "bad_request", f"input size must be at least 32 px (ResNet-50 strides by 32), not {size}"
            )
        self.net = net
        self.size = int(size)
        self.weights = weights
        self.batch_size = int(batch_size)
        self.dim = FEATURE_DIM
        self._features = net.features
        # Hybridizing roughly doubles throughput at small sizes (docs/engine.md). Features were
        # measured bit-identical across batch sizes and with or without hybridization.
        self._features.hybridize(static_alloc=True, static_shape=True)

    @property
    def digest(self) -> str:
        """The parameter digest recorded in the manifest as weights.sha256."""
        return self.weights["sha256"]

    @classmethod
    def load(
        cls,
        source: str,
        *,
        size: int | None = None,
        s3: Any = None,
        cache_dir: str | None = None,
        batch_size: int = 64,
    ) -> Featurizer:
        """A featurizer from `source`: a .params path, an s3:// URI, "pretrained" or "seed:N".

        `size` None: the weights' default (weights.default_input_size: 224 pretrained, else 32).
        """
        mx, _ = _mx()
        file_hash = None
        if source.startswith("seed:"):
            try:
                seed = int(source[len("seed:") :])
            except ValueError as e:
                raise SearchError(
                    "bad_request", f"seed weights look like seed:N with an integer N, not {source!r}"
                ) from e
            net = seeded_network(seed)
            pretrained = False
        else:
            if source == "pretrained":
                # Only a verified file: `imagesearch weights fetch` downloads, the engine never does.
                path = pretrained_file()
            elif is_s3_uri(source):
                path = _download_weights(source, s3, cache_dir)
            else:
                path = source
            if not os.path.isfile(path):
                raise SearchError(
                    "weights_unavailable",
                    f"weights file {path} does not exist; pass "
                    "--weights FILE.params, s3://bucket/key.params, pretrained or seed:N",
                )
            check_zoo_name(path)
            net = inference_network()
            try:
                net.load_parameters(path, ctx=mx.cpu())
            except (AssertionError, ValueError, OSError, mx.base.MXNetError) as e:
                raise SearchError(
                    "weights_unavailable",
                    f"{path} is not a {MODEL_NAME} .params file (as Gluon's save_parameters "
                    f"writes for the whole network): {e}",
                ) from e
            file_hash = file_sha256(path)
            pretrained = is_pretrained_file(path)
        weights = {"source": source, "sha256": params_digest(net), "pretrained": bool(pretrained)}
        if file_hash is not None:
            weights["file_sha256"] = file_hash
        if size is None:
            size = default_input_size(bool(pretrained))
        return cls(net, size=size, weights=weights, batch_size=batch_size)

    def save_params(self, path: str) -> None:
        """Write the whole network's parameters as a Gluon .params file."""
        self.net.save_parameters(path)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One RGB image as a normalised CHW float32 array at the featurizer's input size."""
        # One home (image_prep), shared with the featurize function so both compute the same input.
        return image_prep.to_input(image, self.size)

    def featurize_arrays(self, batch: np.ndarray) -> np.ndarray:
        """Features (n, 2048) float32 of preprocessed arrays (n, 3, size, size), n <= batch_size."""
        mx, _ = _mx()
        n = batch.shape[0]
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, n, self.batch_size):
            chunk = batch[start : start + self.batch_size]
            y = self._features(mx.nd.array(chunk, dtype="float32")).asnumpy()
            out.append(y.reshape(chunk.shape[0], -1))
        return np.concatenate(out).astype(np.float32, copy=False)

    def featurize_images(self, images: Iterable[Image.Image]) -> np.ndarray:
        """Features (n, 2048) float32 of decoded images."""
        arrays = [self.preprocess(im) for im in images]
        if not arrays:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.featurize_arrays(np.stack(arrays))


def load_featurizer(
    manifest: dict, *, s3: Any = None, cache_dir: str | None = None, batch_size: int = 1
) -> Featurizer:
    """The featurizer a manifest names, proven to have the same weights digest; else index_unavailable."""
    weights = manifest["weights"]
    try:
        featurizer = Featurizer.load(
            weights["source"],
            size=int(manifest["model"]["input_size"]),
            s3=s3,
            cache_dir=cache_dir,
            batch_size=batch_size,
        )
    except SearchError as e:
        raise SearchError("index_unavailable", f"cannot load the index's weights: {e.message}") from e
    if featurizer.digest != weights["sha256"]:
        raise SearchError(
            "index_unavailable",
            f"weights {weights['source']} now have digest {featurizer.digest[:12]}, but the index "
            f"was built with {weights['sha256'][:12]}; rebuild the index",
        )
    return featurizer


def matches_manifest(featurizer: Any, manifest: dict) -> bool:
    """Whether `featurizer` computes the features of the index `manifest` describes (digest and size)."""
    return (
        getattr(featurizer, "digest", None) == manifest["weights"]["sha256"]
        and getattr(featurizer, "size", None) == manifest["model"]["input_size"]
    )


def _download_weights(source: str, s3: Any, cache_dir: str | None) -> str:
    """An s3:// weights file (and its fetch record, when published) in the local cache."""
    if s3 is None:
        raise SearchError("bad_request", f"weights {source} are on S3 but no S3 client was given")
    bucket, key = parse_s3_uri(source)
    path = os.path.join(cache_dir or ".", "weights", bucket, key)
    if not os.path.exists(path):
        try:
            download_file(s3, bucket, key, path)
        except SearchError as e:
            raise SearchError("weights_unavailable", f"weights {source}: {e.message}") from e
        record = get_bytes(s3, bucket, key + PROVENANCE_SUFFIX)
        if record is not None:
            with open(provenance_path(path), "wb") as f:
                f.write(record)
    return path
