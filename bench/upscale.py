"""upscale=generate against interpolation: how close each gets to the truth, and what it costs.

Crops of real photos (``tests/models/quality.py``: faces, a grey portrait, a group, leaves, a
painting; 384² each) are shrunk 2× and 4× (bicubic) and enlarged back through the engine
(``transform``, PNG out): plain bicubic resampling in libvips as the baseline, Enlarger's
``upscale=interpolate`` (the decoder's resize, Lanczos 3) and ``upscale=generate`` with each ESRGAN
size (``models/esrgan-{slim,medium,thick}-x2/-x4.onnx``). Prints mean PSNR and SSIM against the
original crop, and CPU seconds per megapixel of output (whole transformation: decode, model,
encode), with the ratio to interpolate.

Run: ``.venv/bin/python scripts/fetch_models.py && .venv/bin/python bench/upscale.py [--sizes slim,medium]``
(about 2 minutes on 2 cores with all three sizes; thick is most of it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.models.labelled import MODELS, require
from tests.models.quality import degrade, photo_crops, psnr, ssim

from enlarger.pipeline import transform
from enlarger.settings import Settings

SIZES = ("slim", "medium", "thick")
FACTORS = (2, 4)


def enlarge(small: pyvips.Image, side: int, method: str) -> tuple[pyvips.Image, float]:
    """``small`` enlarged to ``side``² by ``method``; and the CPU seconds it took."""
    started = time.process_time()
    if method == "bicubic":
        out = small.resize(side / small.width, kernel="cubic").cast("uchar").copy_memory()
        return out, time.process_time() - started
    options = f"width={side},height={side},fit=contain,format=png"
    settings = Settings()
    if method != "interpolate":
        paths = [str(require(MODELS / f"esrgan-{method}-x{f}.onnx")) for f in FACTORS]
        settings = Settings(upscale_model=",".join(paths))
        options += ",upscale=generate"
    data = transform(bytes(small.pngsave_buffer(compression=1)), options, settings=settings).data
    elapsed = time.process_time() - started
    return pyvips.Image.new_from_buffer(data, ""), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="model sizes to run, comma-separated")
    args = parser.parse_args()
    methods = ["bicubic", "interpolate", *args.sizes.split(",")]
    crops = photo_crops()
    for method in methods[2:]:  # load each model once before timing
        enlarge(degrade(crops[0][1], 4), 64, method)
    print(f"{len(crops)} crops of {crops[0][1].width}² ({', '.join(name for name, _ in crops)})")
    for factor in FACTORS:
        print(f"\n×{factor}: method | PSNR dB | SSIM | CPU s per MP of output | × interpolate's CPU")
        base_cpu = 0.0
        for method in methods:
            scores, similarity, cpu = [], [], 0.0
            for _, truth in crops:
                out, seconds = enlarge(degrade(truth, factor), truth.width, method)
                scores.append(psnr(out, truth))
                similarity.append(ssim(out, truth))
                cpu += seconds
            per_mp = cpu / (len(crops) * crops[0][1].width ** 2 / 1e6)
            base_cpu = per_mp if method == "interpolate" else base_cpu
            ratio = f"{per_mp / base_cpu:.0f}×" if base_cpu and method not in ("bicubic", "interpolate") else "-"
            print(
                f"  {method:11} | {statistics.mean(scores):6.2f} | {statistics.mean(similarity):.4f} "
                f"| {per_mp:7.2f} | {ratio}"
            )


if __name__ == "__main__":
    main()
