"""An independent numpy evaluation of an UpscalerJS ESRGAN TensorFlow.js layers model.

Written from the layer semantics (Keras / TensorFlow.js, NHWC), not from the ONNX converter, so
that comparing the two checks ``scripts/convert_esrgan.py``: convolutions as sums of shifted
matrix products, ``tf.depthToSpace`` and nearest upsampling with index arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
BETA = 0.2


def _weights(folder: Path, manifest: list[dict[str, Any]]) -> dict[str, Array]:
    found: dict[str, Array] = {}
    for group in manifest:
        raw = b"".join((folder / p).read_bytes() for p in group["paths"])
        values = np.frombuffer(raw, dtype="<f4")
        start = 0
        for entry in group["weights"]:
            count = int(np.prod(entry["shape"]))
            found[entry["name"]] = values[start : start + count].reshape(entry["shape"])
            start += count
    return found


def _conv(x: Array, kernel: Array, bias: Array | None, padding: str) -> Array:
    kh, kw = kernel.shape[:2]
    if padding == "same":
        x = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    height, width = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((height, width, kernel.shape[3]), np.float64)
    for dy in range(kh):
        for dx in range(kw):
            out += x[dy : dy + height, dx : dx + width, :] @ kernel[dy, dx]
    return out + (bias if bias is not None else 0.0)


def _depth_to_space(x: Array, block: int) -> Array:
    # out[h*b + i, w*b + j, c] = in[h, w, (i*b + j)*C + c]
    height, width, depth = x.shape
    channels = depth // (block * block)
    out = np.empty((height * block, width * block, channels), x.dtype)
    for i in range(block):
        for j in range(block):
            start = (i * block + j) * channels
            out[i::block, j::block, :] = x[:, :, start : start + channels]
    return out


def run(folder: Path, image: Array) -> Array:
    """The model at ``folder`` on one HWC image in the model's own value range (float64 result)."""
    spec = json.loads((folder / "model.json").read_text())
    config = spec["modelTopology"]["model_config"]["config"]
    weights = _weights(folder, spec["weightsManifest"])
    values: dict[str, Array] = {}
    for layer in config["layers"]:
        kind, name, cfg = layer["class_name"], layer["name"], layer["config"]
        if kind == "InputLayer":
            values[name] = image.astype(np.float64)
            continue
        ins = [values[entry[0]] for entry in layer["inbound_nodes"][0]]
        if kind == "Conv2D":
            bias = weights[f"{name}/bias"] if cfg.get("use_bias", True) else None
            out = _conv(ins[0], weights[f"{name}/kernel"].astype(np.float64), bias, cfg["padding"])
            out = np.maximum(out, 0) if cfg.get("activation") == "relu" else out
        elif kind == "Activation":
            out = np.maximum(ins[0], 0) if cfg["activation"] == "relu" else ins[0]
        elif kind == "Concatenate":
            out = np.concatenate(ins, axis=-1)
        elif kind == "Add":
            out = np.sum(ins, axis=0)
        elif kind == "MultiplyBeta":
            out = ins[0] * BETA
        elif kind.startswith("PixelShuffle"):
            out = _depth_to_space(ins[0], int(kind[len("PixelShuffle") : -1]))
        elif kind == "UpSampling2D":
            sy, sx = cfg["size"]
            out = ins[0].repeat(sy, axis=0).repeat(sx, axis=1)
        else:
            raise ValueError(f"layer type {kind} is not implemented in the reference")
        values[name] = out
    ((last, _, _),) = config["output_layers"]
    return values[last]
