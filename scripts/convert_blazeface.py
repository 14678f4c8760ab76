"""Convert MediaPipe's BlazeFace ``.tflite`` face detectors into ONNX, reproducibly.

The BlazeFace graphs use a handful of TFLite operators (CONV_2D, DEPTHWISE_CONV_2D, ADD, RELU,
PAD, MAX_POOL_2D, RESIZE_BILINEAR, RESHAPE, CONCATENATION, DEQUANTIZE of float16 weights), so this
translates them one by one instead of going through TensorFlow: the conversion needs only the
``tflite`` flatbuffer bindings, ``onnx`` and numpy (installed by ``scripts/fetch_models.py`` in its
own environment, never project dependencies). Tensors are kept NCHW inside the ONNX graph; the ONNX
input stays NHWC float32 in [-1, 1] like the original, and the outputs keep their TFLite shapes.

Usage: ``python scripts/convert_blazeface.py MODEL.tflite OUT.onnx``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPS = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class Converter:
    def __init__(self, buf: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.graph = self.model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray[Any, Any]] = {}
        self.nchw: set[int] = set()  # tensors whose ONNX value is NCHW (all 4-D activations)
        self.counter = 0

    def name(self, index: int) -> str:
        return f"t{index}_" + self.graph.Tensors(index).Name().decode().replace("/", "_")

    def shape(self, index: int) -> list[int]:
        return [int(d) for d in self.graph.Tensors(index).ShapeAsNumpy()]

    def buffer(self, index: int) -> np.ndarray[Any, Any] | None:
        if index in self.consts:
            return self.consts[index]
        tensor = self.graph.Tensors(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32}[tensor.Type()]
        return np.frombuffer(data.tobytes(), dtype=dtype).reshape(self.shape(index))

    def tmp(self) -> str:
        self.counter += 1
        return f"tmp{self.counter}"

    def init(self, array: np.ndarray[Any, Any]) -> str:
        name = self.tmp()
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    def options(self, op: Any, cls: Any) -> Any:
        table = op.BuiltinOptions()
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def activation(self, fused: int, out: str) -> str:
        if fused == 0:
            return out
        if fused != 1:
            raise ValueError(f"unsupported fused activation {fused}")
        raw = self.tmp()
        self.nodes[-1].output[0] = raw
        self.node("Relu", [raw], [out])
        return out

    def same_pads(self, size: list[int], kernel: list[int], stride: list[int], padding: int) -> list[int]:
        if padding == 1:  # VALID
            return [0, 0, 0, 0]
        begins, ends = [], []
        for n, k, s in zip(size, kernel, stride, strict=True):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            begins.append(total // 2)
            ends.append(total - total // 2)
        return begins + ends

    def as_nhwc(self, index: int) -> str:
        if index not in self.nchw:
            return self.name(index)
        out = self.tmp()
        self.node("Transpose", [self.name(index)], [out], perm=TO_NHWC)
        return out

    def convert(self) -> onnx.ModelProto:
        g = self.graph
        (inp,) = g.InputsAsNumpy()
        in_shape = self.shape(inp)
        self.node("Transpose", ["input"], [self.name(inp)], perm=TO_NCHW)
        self.nchw.add(inp)
        for i in range(g.OperatorsLength()):
            self.operator(g.Operators(i))
        outputs = []
        for index in g.OutputsAsNumpy():
            name = g.Tensors(index).Name().decode()
            self.node("Identity", [self.as_nhwc(index)], [name])
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(index)))
        graph = helper.make_graph(
            self.nodes,
            "blazeface",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
            outputs,
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="enlarger")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def operator(self, op: Any) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        kind = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins, (out,) = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
        out_name = self.name(out)
        if kind == "DEQUANTIZE":
            data = self.buffer(ins[0])
            assert data is not None
            self.consts[out] = data.astype(np.float32)
            return
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights, bias = self.buffer(ins[1]), self.buffer(ins[2])
            assert weights is not None and bias is not None
            _, h, w, _ = self.shape(ins[0])
            if kind == "CONV_2D":
                opts = self.options(op, tflite.Conv2DOptions)
                kernel, group = weights.transpose(0, 3, 1, 2), 1
            else:
                opts = self.options(op, tflite.DepthwiseConv2DOptions)
                kernel = weights.transpose(3, 0, 1, 2)
                group = kernel.shape[0]
            stride = [opts.StrideH(), opts.StrideW()]
            pads = self.same_pads([h, w], list(kernel.shape[2:]), stride, opts.Padding())
            self.node(
                "Conv",
                [
                    self.name(ins[0]),
                    self.init(np.ascontiguousarray(kernel, np.float32)),
                    self.init(bias.astype(np.float32)),
                ],
                [out_name],
                strides=stride,
                pads=pads,
                group=group,
            )
            self.activation(opts.FusedActivationFunction(), out_name)
        elif kind == "ADD":
            opts = self.options(op, tflite.AddOptions)
            self.node("Add", [self.name(ins[0]), self.name(ins[1])], [out_name])
            self.activation(opts.FusedActivationFunction(), out_name)
        elif kind == "RELU":
            self.node("Relu", [self.name(ins[0])], [out_name])
        elif kind == "PAD":
            paddings = self.buffer(ins[1])
            assert paddings is not None
            nchw = paddings[TO_NCHW]
            pads = [int(v) for v in list(nchw[:, 0]) + list(nchw[:, 1])]
            self.node("Pad", [self.name(ins[0]), self.init(np.array(pads, np.int64))], [out_name], mode="constant")
        elif kind == "MAX_POOL_2D":
            opts = self.options(op, tflite.Pool2DOptions)
            _, h, w, _ = self.shape(ins[0])
            kernel, stride = [opts.FilterHeight(), opts.FilterWidth()], [opts.StrideH(), opts.StrideW()]
            pads = self.same_pads([h, w], kernel, stride, opts.Padding())
            self.node("MaxPool", [self.name(ins[0])], [out_name], kernel_shape=kernel, strides=stride, pads=pads)
        elif kind == "RESIZE_BILINEAR":
            opts = self.options(op, tflite.ResizeBilinearOptions)
            size = self.buffer(ins[1])
            assert size is not None
            n, _, _, c = self.shape(ins[0])
            sizes = np.array([n, c, int(size[0]), int(size[1])], np.int64)
            mode = "align_corners" if opts.AlignCorners() else "half_pixel" if opts.HalfPixelCenters() else "asymmetric"
            self.node(
                "Resize",
                [self.name(ins[0]), "", "", self.init(sizes)],
                [out_name],
                mode="linear",
                coordinate_transformation_mode=mode,
            )
        elif kind == "RESHAPE":
            target = np.array(self.shape(out), np.int64)
            self.node("Reshape", [self.as_nhwc(ins[0]), self.init(target)], [out_name])
            return  # the result is in TFLite (NHWC) layout
        elif kind == "CONCATENATION":
            opts = self.options(op, tflite.ConcatenationOptions)
            axis = opts.Axis()
            if all(i in self.nchw for i in ins):
                axis = TO_NCHW.index(axis % 4)
                self.node("Concat", [self.name(i) for i in ins], [out_name], axis=axis)
                self.nchw.add(out)
                self.activation(opts.FusedActivationFunction(), out_name)
                return
            self.node("Concat", [self.as_nhwc(i) for i in ins], [out_name], axis=axis)
            self.activation(opts.FusedActivationFunction(), out_name)
            return
        else:
            raise ValueError(f"unsupported TFLite operator {kind}")
        if len(self.shape(out)) == 4:
            self.nchw.add(out)


def convert(source: Path, target: Path) -> None:
    """Write the ONNX translation of the BlazeFace model ``source`` to ``target``."""
    model = Converter(source.read_bytes()).convert()
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
