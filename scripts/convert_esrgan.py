"""Convert an UpscalerJS ESRGAN TensorFlow.js layers model (``model.json`` + weight shards) into ONNX.

The ``@upscalerjs/esrgan-{slim,medium,thick}`` graphs (Keras "rdn" and "rrdn" generators) use only
a few layer types: Conv2D (stride 1, ``same``/``valid``, linear or ReLU), Activation (ReLU),
Concatenate (channels), Add, UpSampling2D (nearest), and two custom layers registered by the
package's ``esrgan.js``: ``MultiplyBeta`` (× 0.2) and ``PixelShuffle{N}x`` (``tf.depthToSpace``,
NHWC, which is ONNX's ``DepthToSpace`` in DCR mode). So this translates them one by one instead of
going through TensorFlow: it needs ``onnx`` and numpy only (installed by ``scripts/fetch_models.py``
in its own environment, never project dependencies).

The ONNX model's contract is the same for every size, whatever the original's value range:
input ``input`` NCHW float32 RGB in 0–255 of any height and width, output ``output`` NCHW float32
in 0–255 (not clipped), ``scale`` times larger. ``--input-range 1`` (the "rrdn" models, which work
in 0–1) folds the scaling into the graph. The factor is recorded in the model's metadata
(``scale``), where :mod:`enlarger.models.upscale` reads it.

Usage: ``python scripts/convert_esrgan.py MODEL_DIR OUT.onnx --scale N --input-range 255|1 --source TEXT``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BETA = 0.2  # MultiplyBeta in @upscalerjs/esrgan-*'s esrgan.js


def read_weights(folder: Path, manifest: list[dict[str, Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """Every weight by name: each group's shards are one float32 buffer, sliced in manifest order."""
    weights: dict[str, np.ndarray[Any, Any]] = {}
    for group in manifest:
        buffer = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for entry in group["weights"]:
            if entry["dtype"] != "float32" or "quantization" in entry:
                raise ValueError(f"{entry['name']}: only unquantised float32 weights are supported")
            count = int(np.prod(entry["shape"]))
            data = np.frombuffer(buffer, dtype="<f4", count=count, offset=offset)
            weights[entry["name"]] = data.reshape(entry["shape"]).astype(np.float32)
            offset += count * 4
        if offset != len(buffer):
            raise ValueError(f"weight group {group['paths']} has {len(buffer) - offset} bytes left over")
    return weights


class Converter:
    def __init__(self, folder: Path, input_range: float) -> None:
        spec = json.loads((folder / "model.json").read_text())
        self.config = spec["modelTopology"]["model_config"]["config"]
        self.weights = read_weights(folder, spec["weightsManifest"])
        self.input_range = input_range
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def init(self, name: str, array: np.ndarray[Any, Any]) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))

    def layer(self, kind: str, name: str, config: dict[str, Any], inputs: list[str]) -> None:
        if kind == "Conv2D":
            if config.get("strides", [1, 1]) != [1, 1] or config.get("dilation_rate", [1, 1]) != [1, 1]:
                raise ValueError(f"{name}: only stride 1, dilation 1 convolutions are supported")
            kernel = self.weights[f"{name}/kernel"]  # kh, kw, in, out
            kh, kw = kernel.shape[:2]
            pad = [kh // 2, kw // 2, kh // 2, kw // 2] if config["padding"] == "same" else [0, 0, 0, 0]
            if config["padding"] == "same" and (kh % 2 == 0 or kw % 2 == 0):
                raise ValueError(f"{name}: 'same' padding with an even kernel is not supported")
            args = [inputs[0], self.init(f"{name}/kernel", kernel.transpose(3, 2, 0, 1))]
            if config.get("use_bias", True):
                args.append(self.init(f"{name}/bias", self.weights[f"{name}/bias"]))
            activation = config.get("activation", "linear")
            conv_out = name if activation == "linear" else f"{name}/linear"
            self.node("Conv", args, conv_out, kernel_shape=[kh, kw], pads=pad, strides=[1, 1])
            if activation != "linear":
                self.activation(activation, conv_out, name)
        elif kind == "Activation":
            self.activation(config["activation"], inputs[0], name)
        elif kind == "Concatenate":
            if config["axis"] not in (3, -1):
                raise ValueError(f"{name}: only channel concatenation is supported")
            self.node("Concat", inputs, name, axis=1)
        elif kind == "Add":
            self.node("Sum", inputs, name)
        elif kind == "MultiplyBeta":
            self.node("Mul", [inputs[0], self.init(f"{name}/beta", np.array(BETA))], name)
        elif kind.startswith("PixelShuffle") and kind.endswith("x"):
            self.node("DepthToSpace", inputs, name, blocksize=int(kind[len("PixelShuffle") : -1]), mode="DCR")
        elif kind == "UpSampling2D":
            if config.get("interpolation", "nearest") != "nearest":
                raise ValueError(f"{name}: only nearest upsampling is supported")
            scales = self.init(f"{name}/scales", np.array([1, 1, *config["size"]], dtype=np.float32))
            self.node(
                "Resize",
                [inputs[0], "", scales],
                name,
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
        else:
            raise ValueError(f"{name}: layer type {kind} is not supported")

    def activation(self, kind: str, source: str, name: str) -> None:
        if kind == "relu":
            self.node("Relu", [source], name)
        elif kind == "linear":
            self.node("Identity", [source], name)
        else:
            raise ValueError(f"{name}: activation {kind} is not supported")

    def convert(self, scale: int, source: str) -> onnx.ModelProto:
        (first,) = self.config["input_layers"]
        (last,) = self.config["output_layers"]
        if self.input_range == 255:
            self.node("Identity", ["input"], first[0])
        else:
            self.node("Mul", ["input", self.init("in_scale", np.array(self.input_range / 255.0))], first[0])
        for layer in self.config["layers"]:
            if layer["class_name"] == "InputLayer":
                continue
            (inbound,) = layer["inbound_nodes"]
            inputs = [entry[0] for entry in inbound]
            self.layer(layer["class_name"], layer["name"], layer["config"], inputs)
        if self.input_range == 255:
            self.node("Identity", [last[0]], "output")
        else:
            self.node("Mul", [last[0], self.init("out_scale", np.array(255.0 / self.input_range))], "output")
        graph = helper.make_graph(
            self.nodes,
            "esrgan",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "out_height", "out_width"])],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="enlarger")
        model.ir_version = 8
        for key, value in (("scale", str(scale)), ("source", source), ("range", "0-255 RGB, NCHW")):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", type=Path, help="folder with model.json and its weight shards")
    parser.add_argument("target", type=Path, help="ONNX file to write")
    parser.add_argument("--scale", type=int, required=True, help="the model's upscaling factor")
    parser.add_argument("--input-range", type=float, required=True, choices=(1.0, 255.0), help="1 or 255")
    parser.add_argument("--source", required=True, help="where the model came from (kept in its metadata)")
    args = parser.parse_args()
    model = Converter(args.model_dir, args.input_range).convert(args.scale, args.source)
    onnx.save(model, str(args.target))


if __name__ == "__main__":
    main()
