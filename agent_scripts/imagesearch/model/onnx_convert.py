"""ResNet-50 v1 between Gluon and ONNX: the network exported as a graph, ONNX weights converted back.

The ONNX model zoo's resnet50-v1-7 is an MXNet Gluon export: its initializers carry Gluon's global
parameter names (`resnetv17_stage1_conv0_weight`, ...), so a conversion is a renaming by the
part after the network's prefix. `onnx` is an operator-tooling dependency, imported only here.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from imagesearch.errors import SearchError
from imagesearch.model.weights import MODEL_NAME, check_params

# Gluon numbers each network's prefix per process (resnetv10_, resnetv17_, ...).
_GLUON_PREFIX = re.compile(r"^resnetv1\d*_")
EXPORT_PREFIX = "resnetv17_"  # the prefix the ONNX model zoo's file carries


def reference_network() -> Any:
    """A resnet50_v1 with every parameter materialised (values meaningless): the names and shapes."""
    import mxnet as mx

    from imagesearch.model.features import inference_network

    net = inference_network()  # the engine's one way to make the network
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


class _GraphBuilder:
    """ONNX nodes for a Gluon resnet50_v1, block by block, its parameters as named initializers."""

    def __init__(self, net: Any) -> None:
        params = net.collect_params().items()
        self.names = {id(p): EXPORT_PREFIX + name[len(net.prefix) :] for name, p in params}
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0

    def _param(self, param: Any) -> str:
        from onnx import numpy_helper

        name = self.names[id(param)]
        self.inits.append(numpy_helper.from_array(param.data().asnumpy().astype(np.float32), name))
        return name

    def _node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        out = f"{op.lower()}{self._count}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def block(self, block: Any, x: str) -> str:
        """The nodes of one Gluon block applied to tensor `x`; the output tensor's name."""
        from mxnet.gluon import nn
        from mxnet.gluon.model_zoo.vision.resnet import BottleneckV1

        kind = type(block)
        if kind is nn.HybridSequential:
            for child in block._children.values():
                x = self.block(child, x)
            return x
        if kind is BottleneckV1:
            residual = self.block(block.downsample, x) if block.downsample is not None else x
            return self._node("Relu", [self._node("Add", [self.block(block.body, x), residual])])
        kw = getattr(block, "_kwargs", {})
        if kind is nn.Conv2D:
            inputs = [x, self._param(block.weight)] + ([] if kw["no_bias"] else [self._param(block.bias)])
            return self._node("Conv", inputs, kernel_shape=list(kw["kernel"]), strides=list(kw["stride"]),
                              pads=list(kw["pad"]) * 2, dilations=list(kw["dilate"]), group=kw["num_group"])
        if kind is nn.BatchNorm:
            stats = (block.gamma, block.beta, block.running_mean, block.running_var)
            inputs = [x] + [self._param(p) for p in stats]
            return self._node("BatchNormalization", inputs, epsilon=float(kw["eps"]))
        if kind is nn.Activation:
            return self._node("Relu", [x])
        if kind is nn.MaxPool2D:
            return self._node("MaxPool", [x], kernel_shape=list(kw["kernel"]), strides=list(kw["stride"]),
                              pads=list(kw["pad"]) * 2)
        if kind is nn.GlobalAvgPool2D:
            return self._node("Flatten", [self._node("GlobalAveragePool", [x])])
        if kind is nn.Dense:
            return self._node("Gemm", [x, self._param(block.weight), self._param(block.bias)], transB=1)
        raise TypeError(f"no ONNX export for {kind.__name__}")


def export_onnx(net: Any, path: str) -> None:
    """Write a resnet50_v1 as an ONNX graph named as in the ONNX model zoo's file (resnetv17_...).

    Input `data` (N, 3, H, W); outputs `features` (N, 2048, the engine's layer) and `logits`
    (N, 1000). onnx_to_params reads only the initializers; the graph lets a test run the export.
    """
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder(net)
    features = g.block(net.features, "data")
    logits = g.block(net.output, features)
    graph = helper.make_graph(
        g.nodes,
        MODEL_NAME,
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(features, TensorProto.FLOAT, ["N", 2048]),
         helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["N", 1000])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, producer_name="imagesearch.model.onnx_convert",
                              opset_imports=[helper.make_opsetid("", 15)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


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
