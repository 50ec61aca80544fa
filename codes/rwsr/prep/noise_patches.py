"""Flat, low-variance tiles of a photo (their content is mostly sensor noise) and their index.

A tile is kept when the variance of its gray level is below max_var and its
mean above min_mean (min_mean drops dark tiles, where noise is weaker). Kept
tiles are saved as RGB PNG `<stem>_<idx>.png`; `index.csv` lists each one with
its source image, position and statistics.
"""
import csv
import io
import os

import numpy as np

from ..utils.image_io import image_stem, read_image, to_uint8, write_image
from .batch import TaskResult

INDEX_FILE = "index.csv"
INDEX_HEADER = ("patch", "source", "x", "y", "mean", "var")


def gray_level(rgb):
    """ITU-R 601-2 luma on 0-255, rounded to an integer exactly as PIL's convert('L').

    The official script measures PIL's gray image; matching it keeps the same tiles.
    """
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16


def _integral(values):
    out = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(values, axis=0), axis=1, out=out[1:, 1:])
    return out


def tile_statistics(gray, patch_size, stride):
    """Tile origins (ys, xs) and the mean and variance of every full tile.

    Every tile that fits counts, the last row and column included (the official
    loop `range(0, h - sp, sp)` skips them). Integral images give all tile sums
    at once; they hold exact integers.
    """
    height, width = gray.shape
    ys = np.arange(0, height - patch_size + 1, stride)
    xs = np.arange(0, width - patch_size + 1, stride)
    if ys.size == 0 or xs.size == 0:
        empty = np.zeros((ys.size, xs.size))
        return ys, xs, empty, empty
    area = float(patch_size * patch_size)
    sums = []
    for table in (_integral(gray), _integral(gray * gray)):
        y0, y1 = ys[:, None], ys[:, None] + patch_size
        x0, x1 = xs[None, :], xs[None, :] + patch_size
        sums.append((table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]).astype(np.float64))
    mean = sums[0] / area
    var = np.maximum(sums[1] / area - mean * mean, 0.0)
    return ys, xs, mean, var


def collect_from_image(path, output, patch_size, stride, max_var, min_mean):
    """Save the kept tiles of one photo (a worker task); payload: (index rows, lowest bright-tile var)."""
    img = to_uint8(read_image(path))
    ys, xs, mean, var = tile_statistics(gray_level(img), patch_size, stride)
    bright = mean > min_mean
    keep = (var < max_var) & bright
    stem, rows = image_stem(path), []
    for idx, (i, j) in enumerate(np.argwhere(keep)):
        y, x = int(ys[i]), int(xs[j])
        name = f"{stem}_{idx:03d}.png"
        write_image(os.path.join(output, name), img[y:y + patch_size, x:x + patch_size])
        rows.append((name, os.path.basename(path), x, y, f"{mean[i, j]:.4f}", f"{var[i, j]:.4f}"))
    lowest_var = float(var[bright].min()) if bright.any() else None
    return TaskResult(path, "done", payload=(rows, lowest_var))


def format_index(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def previous_patches(output):
    """Patch names listed by an earlier run's index.csv (our own files, safe to replace)."""
    path = os.path.join(output, INDEX_FILE)
    if not os.path.isfile(path):
        return set()
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["patch"] for row in csv.DictReader(handle) if row.get("patch")}
