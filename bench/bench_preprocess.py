"""Speed of create_bicubic_dataset on DIV2K-size photos and of imresize against a per-pixel loop.

    python bench/bench_preprocess.py [--images 4]

Prints images/s of the script (in-process, startup excluded, wall time) with
--workers 1 (pinned to one core) and 2, the CPU time of one image split into
reading, clean-up, x4 and writing, and imresize against the plain per-pixel
implementation of tests/imresize_loop_reference.py, timed on a small crop and
scaled by the number of output pixels. Target: clean-up and x4 of one 2040x1356 image in
under 1 s on one core.
"""
import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "codes"), os.path.join(REPO, "tests")]

from rwsr.utils.blas_threads import limit_blas_threads  # noqa: E402

limit_blas_threads()  # as the command does, before numpy loads

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from imresize_loop_reference import imresize_loop  # noqa: E402
from skimage import data  # noqa: E402

from rwsr.cli import create_bicubic_dataset as script  # noqa: E402
from rwsr.prep.bicubic_pairs import clean_up  # noqa: E402
from rwsr.utils.image_io import modcrop, read_image, write_image  # noqa: E402
from rwsr.utils.imresize import imresize, imresize_uint8  # noqa: E402

WIDTH, HEIGHT = 2040, 1356  # DIV2K


def make_photos(folder, count):
    """DIV2K-size noisy photos made from scikit-image samples."""
    rng = np.random.default_rng(0)
    samples = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    os.makedirs(folder)
    for index in range(count):
        big = cv2.resize(samples[index % len(samples)], (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
        noisy = np.clip(big + rng.normal(0, 6, big.shape), 0, 255).astype(np.uint8)
        write_image(os.path.join(folder, f"{index:04d}.png"), noisy)


@contextlib.contextmanager
def one_core():
    """Pin this process to one CPU (where the OS allows it) to measure single-core speed."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def cpu_seconds():
    """CPU time of this process and its finished children (the pool's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def time_script(script, source, output, workers):
    """(wall seconds, CPU seconds) of one in-process run of the script."""
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(io.StringIO()):
        code = script.main(["--source", source, "--output", output, "--workers", str(workers)])
    assert not code, code
    return time.perf_counter() - start_wall, cpu_seconds() - start_cpu


def split_one_image(path, folder):
    """CPU seconds for read, clean-up /2, x4 and writing of one photo (best of 3).

    CPU time rather than wall time: it is what one core spends, even on a busy machine.
    """
    best = {}
    for _ in range(3):
        marks = [time.process_time()]
        img = read_image(path)
        marks.append(time.process_time())
        hr = modcrop(clean_up(img, 2.0), 4)
        marks.append(time.process_time())
        lr = imresize_uint8(hr, 0.25)
        marks.append(time.process_time())
        write_image(os.path.join(folder, "hr.png"), hr)
        write_image(os.path.join(folder, "lr.png"), lr)
        marks.append(time.process_time())
        for name, seconds in zip(("read", "clean-up /2", "x4 (1/4)", "write 2 PNGs"), np.diff(marks)):
            best[name] = min(best.get(name, math.inf), seconds)
    return best


def loop_comparison():
    """imresize vs the per-pixel loop: timed on a 96x128 crop, scaled to the DIV2K chain."""
    crop = data.astronaut()[:96, :128]
    stages = [(0.5, HEIGHT, WIDTH), (0.25, HEIGHT // 2 // 4 * 4, WIDTH // 2)]
    rows = []
    for scale, height, width in stages:
        start = time.process_time()
        expected = imresize_loop(crop, scale)
        loop_per_pixel = (time.process_time() - start) / (expected.shape[0] * expected.shape[1])
        full = np.zeros((height, width, 3), dtype=np.uint8)
        start = time.process_time()
        out = imresize(full, scale)
        fast = time.process_time() - start
        assert np.abs(imresize(crop, scale) - expected).max() < 1e-9
        rows.append((scale, height, width, loop_per_pixel * out.shape[0] * out.shape[1], fast))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="DIV2K-size photos to process (default 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source")
        make_photos(source, args.images)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"create_bicubic_dataset, {args.images} RGB photos of {WIDTH}x{HEIGHT}, clean-up /2, x4 "
              f"({os.cpu_count()} CPUs, load average {load:.1f} before the run):")
        with one_core():
            single, single_cpu = time_script(script, source, os.path.join(tmp, "out1"), 1)
        double, double_cpu = time_script(script, source, os.path.join(tmp, "out2"), 2)
        for label, wall, cpu in (("--workers 1 (one core)", single, single_cpu), ("--workers 2", double, double_cpu)):
            print(f"  {label:22s}: {args.images / wall:.2f} images/s wall, {cpu / args.images:.2f} CPU s/image")
        print(f"  --workers 2 vs 1: {single / double:.2f}x images/s (wall; the machine's other load counts)")
        with one_core():
            split = split_one_image(os.path.join(source, "0000.png"), tmp)
        print("one image, CPU seconds on one core (best of 3): " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
        resize_total = split["clean-up /2"] + split["x4 (1/4)"]
        print(f"  clean-up + x4: {resize_total:.3f} s (target: under 1 s)")
    print("imresize vs a per-pixel loop, CPU seconds (loop timed on a 96x128 crop, scaled by output pixels):")
    with one_core():
        for scale, height, width, loop, fast in loop_comparison():
            print(f"  {width}x{height} x{scale:g}: loop {loop:8.1f} s (extrapolated), imresize {fast:.3f} s, "
                  f"{loop / fast:,.0f}x faster")


if __name__ == "__main__":
    main()
