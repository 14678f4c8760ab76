"""Stand-in ONNX models built by code: real graphs that onnxruntime runs, with known behaviour."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def never_ending(path: Path, side: int = 32) -> Path:
    """A segmentation-shaped model (``[1, 3, side, side]`` → ``[1, 1, side, side]``) that never
    finishes: a ``Loop`` of 2⁶² steps. Only a terminated run ever returns."""
    body = helper.make_graph(
        [helper.make_node("Sin", ["x_in"], ["x_out"]), helper.make_node("Identity", ["go_in"], ["go_out"])],
        "body",
        [
            helper.make_tensor_value_info("step", TensorProto.INT64, []),
            helper.make_tensor_value_info("go_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("go_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None),
        ],
    )
    nodes = [
        helper.make_node("Constant", [], ["trips"], value=helper.make_tensor("t", TensorProto.INT64, [], [2**62])),
        helper.make_node("Constant", [], ["go"], value=helper.make_tensor("g", TensorProto.BOOL, [], [True])),
        helper.make_node("Loop", ["trips", "go", "input"], ["spun"], body=body),
        helper.make_node("ReduceMean", ["spun"], ["mask"], axes=[1], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes,
        "never_ending",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, side, side])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what onnxruntime >= 1.17 (the oldest we allow) reads
    onnx.save(model, str(path))
    return path


def mean_mask(path: Path, side: int = 32) -> Path:
    """A segmentation-shaped model that finishes at once: the mask is the mean of the channels."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["mask"], axes=[1], keepdims=1)],
        "mean_mask",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, side, side])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
