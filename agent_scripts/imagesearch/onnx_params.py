"""ResNet-50 v1 parameters between Gluon .params files and ONNX initializers (operator tooling).

The ONNX model zoo's resnet50-v1-7 is an MXNet Gluon export: its initializers carry Gluon's global
parameter names (`resnetv17_stage1_conv0_weight`, ...), so a conversion is a renaming by the
part after the network's prefix. `onnx` is an operator-tooling dependency, imported only here.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.weights import MODEL_NAME, check_params

# Gluon numbers each network's prefix per process (resnetv10_, resnetv17_, ...).
_GLUON_PREFIX = re.compile(r"^resnetv1\d*_")
EXPORT_PREFIX = "resnetv17_"  # the prefix the ONNX model zoo's file carries


def reference_network() -> Any:
    """A resnet50_v1 with every parameter materialised (values meaningless): the names and shapes."""
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision

    net = vision.resnet50_v1(pretrained=False)
    net.initialize(mx.init.Zero(), ctx=mx.cpu())
    net(mx.nd.zeros((1, 3, 32, 32)))
    return net


def structural_names(net: Any) -> dict[str, str]:
    """Gluon name without its prefix (`stage1_conv0_weight`) -> structural name (`features.5.0...`)."""
    by_param = {id(p): name for name, p in net._collect_params_with_prefix().items()}
    return {name[len(net.prefix) :]: by_param[id(p)] for name, p in net.collect_params().items()}


def expected_shapes(net: Any) -> dict[str, tuple[int, ...]]:
    """Structural parameter name -> shape, as save_parameters writes them."""
    return {name: tuple(p.shape) for name, p in net._collect_params_with_prefix().items()}


def export_onnx(net: Any, path: str) -> None:
    """Write the network's parameters as ONNX initializers named as in the ONNX model zoo's file.

    Only the initializers (what onnx_to_params reads) are written, not the graph's nodes: the file
    is a test double of the zoo's resnet50-v1-7 for the converter, not a runnable model.
    """
    import onnx
    from onnx import helper, numpy_helper

    params = net._collect_params_with_prefix()
    inits = [
        numpy_helper.from_array(
            params[structural].data().asnumpy().astype(np.float32), EXPORT_PREFIX + suffix
        )
        for suffix, structural in structural_names(net).items()
    ]
    graph = helper.make_graph([], f"{MODEL_NAME}-initializers", [], [], initializer=inits)
    onnx.save(helper.make_model(graph, producer_name="imagesearch.onnx_params"), path)


def onnx_to_params(onnx_path: str, out_path: str) -> int:
    """Convert an ONNX resnet50_v1 (Gluon export) to a Gluon .params file; return the parameter count."""
    import mxnet as mx
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(onnx_path)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        raise SearchError("weights_unavailable", f"{onnx_path} is not an ONNX model: {e}") from e
    net = reference_network()
    rename = structural_names(net)
    arrays: dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        suffix = _GLUON_PREFIX.sub("", init.name)
        if suffix in rename:
            arrays[rename[suffix]] = numpy_helper.to_array(init).astype(np.float32)
    check_params(arrays, expected_shapes(net))
    mx.nd.save(out_path, {name: mx.nd.array(value) for name, value in arrays.items()})
    return len(arrays)
