"""Collect flat, low-variance patches of real photos: their content is mostly sensor noise.

    python preprocess/collect_noise.py --dataset df2k --artifacts tdsr
    python preprocess/collect_noise.py --source DIR --output DIR \
        [--patch_size 256] [--max_var 20] [--min_mean 0] [--stride S] [--workers N] [--overwrite]

Every photo is cut into patch_size tiles (non-overlapping unless --stride says
otherwise); a tile is kept when the variance of its gray level is below
max_var and its mean above min_mean (min_mean drops dark tiles, where noise is
weaker). Patches are saved as RGB PNG `<stem>_<idx>.png`, and `index.csv`
lists each one with its source image, position and statistics. The training
noise pool (`datasets.train.noise_data`) reads this folder.
"""
import csv
import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

# _common comes first: it limits BLAS threads before numpy loads.
from _common import (OneLineArgumentParser, TaskResult, add_common_arguments, check_output_location,  # noqa: E402
                     check_preset_folder, check_unique_stems, check_workers, fail_if_skipped,
                     list_input_images, load_preset, make_folder, run_batch)
import numpy as np  # noqa: E402

from rwsr.utils.errors import RwsrError, run_cli  # noqa: E402
from rwsr.utils.fs import atomic_write_text  # noqa: E402
from rwsr.utils.image_io import image_stem, read_image, to_uint8, write_image  # noqa: E402

INDEX_FILE = "index.csv"
INDEX_HEADER = ("patch", "source", "x", "y", "mean", "var")
DEFAULTS = {"patch_size": 256, "max_var": 20.0, "min_mean": 0.0}


def build_parser():
    parser = OneLineArgumentParser(prog="collect_noise.py",
                                   description="Collect flat, low-variance patches (real noise) from photos.")
    parser.add_argument("--dataset", help="preset name in paths.yml (df2k, dped)")
    parser.add_argument("--artifacts", default="tdsr", help="preset kind in paths.yml (default: tdsr)")
    parser.add_argument("--source", help="folder of photos to take noise from")
    parser.add_argument("--output", help="folder for the patches (the training option noise_data)")
    parser.add_argument("--patch_size", type=int, help="tile side in pixels (default: 256 or the preset's)")
    parser.add_argument("--max_var", type=float, help="keep tiles whose gray variance is below this (default: 20)")
    parser.add_argument("--min_mean", type=float, help="keep tiles whose gray mean is above this (default: 0)")
    parser.add_argument("--stride", type=int, help="step between tiles (default: patch_size, no overlap)")
    add_common_arguments(parser)
    return parser


def resolve_settings(args):
    """(source, output, thresholds) from a paths.yml preset or from the explicit flags."""
    flags = {key: getattr(args, key) for key in DEFAULTS}
    if args.dataset:
        if args.source or args.output:
            raise RwsrError(f"--dataset cannot be combined with --{'source' if args.source else 'output'}; "
                            "use one of the two forms", exit_code=2)
        preset = load_preset(args.paths, args.dataset, args.artifacts)
        check_preset_folder(preset, "source")
        if not preset["source"]:
            raise RwsrError(f"{preset['file']}: {preset['key']}.source is not set; noise comes from source photos",
                            exit_code=2)
        noise = preset["noise"]
        settings = {key: flags[key] if flags[key] is not None else noise.get(key, DEFAULTS[key]) for key in DEFAULTS}
        output = os.path.join(preset["root"], str(noise.get("folder", "noise")))
        return preset["source"], output, settings
    if not args.source or not args.output:
        raise RwsrError("give --dataset NAME, or both --source and --output", exit_code=2)
    settings = {key: flags[key] if flags[key] is not None else DEFAULTS[key] for key in DEFAULTS}
    return args.source, args.output, settings


def check_settings(settings, stride):
    if settings["patch_size"] < 2:
        raise RwsrError(f"--patch_size {settings['patch_size']}: must be at least 2 pixels", exit_code=2)
    if stride is not None and stride < 1:
        raise RwsrError(f"--stride {stride}: must be at least 1", exit_code=2)


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


def prepare_output(output, overwrite):
    """Create the folder; return (created, earlier patch names). Non-empty needs --overwrite."""
    created = not os.path.exists(output)
    make_folder(output)
    if os.listdir(output) and not overwrite:
        raise RwsrError(f"{output} is not empty; pass --overwrite to replace its patches or choose another --output",
                        exit_code=2)
    return created, previous_patches(output)


def no_patch_hint(settings, lowest_var):
    seen = f"the flattest bright tile has variance {lowest_var:.1f}" if lowest_var is not None \
        else f"no tile has a mean above {settings['min_mean']:g}"
    return (f"no tile passed the thresholds (patch_size {settings['patch_size']}, max_var {settings['max_var']:g}, "
            f"min_mean {settings['min_mean']:g}); {seen}: raise --max_var, lower --min_mean or --patch_size")


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    workers = check_workers(args.workers)
    source, output, settings = resolve_settings(args)
    check_settings(settings, args.stride)
    check_output_location(output, [source])
    images = list_input_images(source)
    check_unique_stems(images)
    created, earlier = prepare_output(output, args.overwrite)
    stride = args.stride or settings["patch_size"]
    task_args = (output, settings["patch_size"], stride, settings["max_var"], settings["min_mean"])
    results = sorted(run_batch(collect_from_image, images, task_args, workers, desc="noise patches"),
                     key=lambda r: r.path)
    failed = [r for r in results if r.status == "failed"]
    rows = [row for r in results if r.status == "done" for row in r.payload[0]]
    if not rows:
        if created:
            os.rmdir(output)
        if len(failed) == len(results):
            fail_if_skipped(failed, len(results))
        lows = [r.payload[1] for r in results if r.status == "done" and r.payload[1] is not None]
        raise RwsrError(no_patch_hint(settings, min(lows) if lows else None), exit_code=1)
    atomic_write_text(os.path.join(output, INDEX_FILE), format_index(rows))
    for stale in earlier - {row[0] for row in rows}:
        if os.path.basename(stale) != stale:  # only plain names in this folder
            continue
        stale_path = os.path.join(output, stale)
        if os.path.isfile(stale_path):
            os.remove(stale_path)
    print(f"{output}: {len(rows)} noise patches from {len(results) - len(failed)} images, {len(failed)} skipped")
    fail_if_skipped(failed, len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
