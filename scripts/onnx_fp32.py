"""Rewrite a float16 ONNX model (float32 inputs/outputs, float16 inside) as a plain float32 one.

onnxruntime's CPU provider has few float16 kernels: on a float16 graph it wraps most nodes in
casts and runs them in float32 anyway, slower than a float32 model. This turns every float16
weight and constant into float32, makes every cast to float16 a cast to float32 (those whose input
is already float32 are removed), keeps only the outputs named on the command line (by default the
first) so the side outputs' branches are pruned, and checks the result against the original.

Run with a Python that has ``onnx`` and ``numpy`` (``scripts/fetch_models.py`` uses its own
``models/.convert-venv``): ``python scripts/onnx_fp32.py in.onnx out.onnx [--keep NAME ...]``
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _to_float32(tensor: Any) -> Any:
    array = numpy_helper.to_array(tensor).astype(np.float32)
    return numpy_helper.from_array(array, tensor.name)


def _replace(field: Any, items: Any) -> None:
    """Replace a repeated protobuf field's items (copies first: deleting detaches the originals)."""
    copies = []
    for item in items:
        copy = type(item)()
        copy.CopyFrom(item)
        copies.append(copy)
    del field[:]
    field.extend(copies)


def _topological(nodes: list[Any]) -> list[Any]:
    """``nodes`` in an order where each comes after the producers of its inputs (the source
    model's converter appended its casts at the end)."""
    producer = {o: k for k, node in enumerate(nodes) for o in node.output}
    done: set[int] = set()
    order: list[Any] = []

    def visit(k: int) -> None:
        stack = [(k, False)]
        while stack:
            at, expanded = stack.pop()
            if at in done:
                continue
            if expanded:
                done.add(at)
                order.append(nodes[at])
                continue
            stack.append((at, True))
            stack.extend((producer[i], False) for i in nodes[at].input if i in producer and producer[i] not in done)

    for k in range(len(nodes)):
        visit(k)
    return order


def convert(model: Any, keep: list[str]) -> Any:
    graph = model.graph
    for k, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT16:
            graph.initializer[k].CopyFrom(_to_float32(init))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(_to_float32(attr.t))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT
    for info in [*graph.value_info, *graph.input, *graph.output]:
        if info.type.tensor_type.elem_type == TensorProto.FLOAT16:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    # only the wanted outputs; then drop nodes nothing needs any more
    wanted = [o for o in graph.output if o.name in keep]
    del graph.output[:]
    graph.output.extend(wanted)
    needed = {o.name for o in graph.output}
    producer = {o: node for node in graph.node for o in node.output}
    live: dict[int, Any] = {}
    stack = list(needed)
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in live:
            live[id(node)] = node
            stack.extend(i for i in node.input if i)
    _replace(graph.node, _topological([n for n in graph.node if id(n) in live]))
    used = {i for n in graph.node for i in n.input}
    _replace(graph.initializer, [i for i in graph.initializer if i.name in used])
    # casts float32 → float32 are no-ops now: wire their consumers to the cast's input
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.input]}
    types.update({i.name: i.data_type for i in graph.initializer})
    rename: dict[str, str] = {}
    outputs = {o.name for o in graph.output}
    kept = []
    for node in graph.node:
        inputs = [rename.get(i, i) for i in node.input]
        del node.input[:]
        node.input.extend(inputs)
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and to == TensorProto.FLOAT and types.get(node.input[0]) == TensorProto.FLOAT:
            if node.output[0] in outputs:  # keep the graph output's name: an Identity instead
                kept.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
            else:
                rename[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    _replace(graph.node, kept)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--keep", action="append", help="an output to keep (default: the first)")
    args = parser.parse_args()
    model = onnx.load(args.source)
    keep = args.keep or [model.graph.output[0].name]
    converted = convert(model, keep)
    onnx.save(converted, args.target)
    casts = sum(n.op_type == "Cast" for n in converted.graph.node)
    print(f"{args.target}: {len(converted.graph.node)} nodes ({casts} casts), outputs {keep}")


if __name__ == "__main__":
    main()
