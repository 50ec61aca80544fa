"""Speed of NIQE (rwsr.metrics.niqe) on a 2-megapixel SR output, against a block-by-block loop.

    python bench/bench_niqe.py [--repeats 3]

The image: a real photo (scikit-image's astronaut, 512x512) upscaled x2.76 with MATLAB bicubic to
1414x1414 (2.0 megapixels), as test.py scores an SR output (Y channel, border 4 removed). The
baseline runs the same feature code one 96x96 block at a time (the structure of the MATLAB
release's blkproc), in this process; both must give the same score. Prints the best of
--repeats runs for each and their ratio. Target: a 2-megapixel output in well under a few seconds.
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))

import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from rwsr.metrics import niqe as niqe_module  # noqa: E402
from rwsr.utils.imresize import imresize_uint8  # noqa: E402


VECTORISED = niqe_module.block_features


def per_block_features(blocks):
    """The baseline: the same feature code called on one block at a time."""
    return np.concatenate([VECTORISED(block[None]) for block in blocks])


def best_time(function, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    img = imresize_uint8(data.astronaut(), 1414 / 512)[:1414, :1414]
    print(f"image: {img.shape[1]}x{img.shape[0]} ({img.shape[0] * img.shape[1] / 1e6:.2f} MP), crop_border 4")
    fast_s, fast = best_time(lambda: niqe_module.niqe_of_image(img, crop_border=4), args.repeats)
    niqe_module.block_features = per_block_features
    try:
        loop_s, loop = best_time(lambda: niqe_module.niqe_of_image(img, crop_border=4), args.repeats)
    finally:
        niqe_module.block_features = VECTORISED
    print(f"NIQE {fast:.6f} (per-block loop: {loop:.6f})")
    print(f"all blocks at once: {fast_s:.3f} s   per-block loop: {loop_s:.3f} s   ratio {loop_s / fast_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
