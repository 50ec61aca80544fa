"""Noise-guided data collection: mix auxiliary clean HR images into a training list.

    python preprocess/ngdc.py --primary_gt HR_DIR [--primary_lq LR_DIR] --aux AUX_HR_DIR \
        --noise NOISE_DIR --output LIST.txt [--share 0.25] [--scale 4] [--margin 0.5] \
        [--gt_size 0] [--seed 0] [--workers 1] [--overwrite]

Every auxiliary image's noise level is estimated on its bicubic LR (the LR
training makes from it) and compared with the noise pool's level (the median
standard deviation of its zero-mean patches, what injection adds); images at
most `--margin` times the pool's level are eligible, lowest noise first. The list keeps the primary set's length N: round(share * N) lines are
the best eligible auxiliary images (LR made on the fly), the others a seeded
random subset of the primary pairs. Train on it with
`datasets.train.train_list: LIST.txt`. `<list stem>_ranking.csv` beside the
list reports every auxiliary image's level, ratio and verdict.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

import numpy as np  # noqa: E402
from _common import (OneLineArgumentParser, TaskResult, check_workers, fail_if_skipped,  # noqa: E402
                     list_input_images, run_batch)

from rwsr.data import ngdc  # noqa: E402
from rwsr.data.lmdb_io import is_lmdb  # noqa: E402
from rwsr.data.noise_estimation import NoisePoolStats  # noqa: E402
from rwsr.data.pairing import match_by_key  # noqa: E402
from rwsr.data.sources import FolderSource  # noqa: E402
from rwsr.utils.errors import RwsrError, run_cli  # noqa: E402
from rwsr.utils.fs import atomic_write_text  # noqa: E402
from rwsr.utils.image_io import read_image  # noqa: E402

MIN_LR_SIDE = 3  # the noise estimator needs a 3x3 LR


def build_parser():
    parser = OneLineArgumentParser(prog="ngdc.py", description=__doc__.split("\n")[0])
    parser.add_argument("--primary_gt", required=True, help="folder of the primary HR images")
    parser.add_argument("--primary_lq", help="folder of their LR images (same names); omitted: LR made on the fly")
    parser.add_argument("--aux", required=True, help="folder of auxiliary clean HR images (searched recursively)")
    parser.add_argument("--noise", required=True, help="noise patch folder (preprocess/collect_noise.py)")
    parser.add_argument("--output", required=True, help="training list to write, e.g. datasets/ngdc/train.txt")
    parser.add_argument("--share", type=float, default=0.25,
                        help="fraction of each epoch given to auxiliary images, in [0, 1] (default: 0.25)")
    parser.add_argument("--scale", type=int, default=4, help="super-resolution scale (default: 4)")
    parser.add_argument("--margin", type=float, default=0.5,
                        help="eligible when the LR noise level is at most margin x the pool's (default: 0.5)")
    parser.add_argument("--gt_size", type=int, default=0,
                        help="skip auxiliary images smaller than this (the training crop GT_size; default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the subset of primary pairs (default: 0)")
    parser.add_argument("--workers", type=int, default=1, help="processes working in parallel (default: 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing list and ranking")
    return parser


def check_arguments(args):
    if not 0.0 <= args.share <= 1.0:
        raise RwsrError(f"--share {args.share:g}: must lie in [0, 1]", exit_code=2)
    if not args.margin > 0:
        raise RwsrError(f"--margin {args.margin:g}: must be positive (0.5: half the pool's noise level)", exit_code=2)
    if args.scale < 1:
        raise RwsrError(f"--scale {args.scale}: must be a positive integer", exit_code=2)
    if args.gt_size < 0:
        raise RwsrError(f"--gt_size {args.gt_size}: must not be negative", exit_code=2)
    check_workers(args.workers)
    for path in (args.output, ngdc.ranking_path(args.output)):
        if os.path.isdir(path):
            raise RwsrError(f"--output {path} is a folder; give a file name such as train_ngdc.txt", exit_code=2)
        if os.path.exists(path) and not args.overwrite:
            raise RwsrError(f"{path} exists; pass --overwrite to replace it or choose another --output",
                            exit_code=2)


def image_folder(path, flag):
    if not os.path.isdir(path):
        raise RwsrError(f"{flag} {path}: not a folder; check the path", exit_code=2)
    if is_lmdb(path):
        raise RwsrError(f"{flag} {path}: is an LMDB; a train_list names image files, give the image folder",
                        exit_code=2)
    return path


def primary_pairs(args):
    """[(gt_path, lq_path or None)] of the primary set, matched by name."""
    gt = FolderSource(image_folder(args.primary_gt, "--primary_gt"))
    if not args.primary_lq:
        return [(gt.path(key), None) for key in gt.keys]
    lq = FolderSource(image_folder(args.primary_lq, "--primary_lq"))
    pairs = match_by_key(gt.keys, lq.keys, args.scale, args.primary_gt, args.primary_lq)
    return [(gt.path(gt_key), lq.path(lq_key)) for gt_key, lq_key in pairs]


def measure_patch(path):
    return TaskResult(path, "done", payload=ngdc.patch_noise_levels(read_image(path)))


def measure_auxiliary(path, scale):
    img = read_image(path)
    height, width = img.shape[:2]
    small = min(height, width) < MIN_LR_SIDE * scale
    sigma = float("nan") if small else ngdc.lr_noise_sigma(img, scale)
    return TaskResult(path, "done", payload=(height, width, sigma))


def pool_statistics(noise_dir, workers):
    patches = list_input_images(image_folder(noise_dir, "--noise"), recursive=True)
    results = list(run_batch(measure_patch, patches, (), workers, desc="noise pool", ordered=True))
    done = [r.payload for r in results if r.status == "done"]
    if not done:
        raise RwsrError(f"--noise {noise_dir}: no readable noise patch", exit_code=1)
    stats = NoisePoolStats(np.array([d[0] for d in done]), np.array([d[1] for d in done]))
    return stats, [r for r in results if r.status == "failed"]


def auxiliary_candidates(aux_dir, scale, workers):
    paths = list_input_images(image_folder(aux_dir, "--aux"), recursive=True)
    results = list(run_batch(measure_auxiliary, paths, (scale,), workers, desc="auxiliary images", ordered=True))
    candidates = []
    for result in results:
        if result.status == "failed":
            candidates.append(ngdc.AuxCandidate(result.path, status=ngdc.UNREADABLE, note=result.message))
        else:
            height, width, sigma = result.payload
            candidates.append(ngdc.AuxCandidate(result.path, height, width, sigma))
    return candidates, [r for r in results if r.status == "failed"]


def header_lines(args, pool, n_primary, n_aux, eligible, total_aux):
    summary = pool.summary()
    folders = {"primary_gt": args.primary_gt, "primary_lq": args.primary_lq or ngdc.ON_THE_FLY,
               "aux": args.aux, "noise": args.noise}
    return [
        "NGDC training list written by preprocess/ngdc.py; each line: GT_path<TAB>LQ_path "
        "('-': LR made on the fly with MATLAB bicubic); paths relative to this file's folder",
        " ".join(f"{key}={os.path.abspath(value) if value != ngdc.ON_THE_FLY else value}"
                 for key, value in folders.items()),
        f"share={args.share:g} scale={args.scale} margin={args.margin:g} gt_size={args.gt_size} seed={args.seed}",
        f"noise pool: {summary['patches']} patches, level (median zero-mean std) "
        f"{summary['injected_std_median']:.3f}; estimator sigma median {summary['sigma_median']:.3f} "
        f"(p10 {summary['sigma_p10']:.3f}, p90 {summary['sigma_p90']:.3f}); 0-255 units",
        f"epoch: {n_primary + n_aux} samples = {n_primary} primary + {n_aux} auxiliary; "
        f"{eligible} of {total_aux} auxiliary images eligible",
    ]


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_arguments(args)
    pairs = primary_pairs(args)
    pool, pool_failed = pool_statistics(args.noise, args.workers)
    candidates, aux_failed = auxiliary_candidates(args.aux, args.scale, args.workers)
    pool_level = pool.median_injected_std
    ranked = ngdc.rank_candidates(candidates, pool_level, args.margin, args.gt_size)
    eligible = sum(c.status == ngdc.ELIGIBLE for c in ranked)
    samples, wanted = ngdc.compose_epoch(pairs, ranked, args.share, args.seed)
    n_aux = sum(c.status == ngdc.SELECTED for c in ranked)
    base = os.path.dirname(os.path.abspath(args.output))
    header = header_lines(args, pool, len(samples) - n_aux, n_aux, eligible, len(ranked))
    atomic_write_text(args.output, ngdc.format_train_list(samples, base, header))
    atomic_write_text(ngdc.ranking_path(args.output), ngdc.format_ranking(ranked))
    print(f"noise pool: {pool.count} patches, level {pool_level:.3f}")
    print(f"auxiliary: {eligible} of {len(ranked)} eligible (LR sigma <= {args.margin:g} x {pool_level:.3f} "
          f"= {args.margin * pool_level:.3f}), {n_aux} used")
    if n_aux < wanted:
        print(f"note: share {args.share:g} asks for {wanted} auxiliary images but only {n_aux} are eligible; "
              f"primary pairs fill the other {wanted - n_aux}")
    print(f"wrote {args.output}: {len(samples)} samples = {len(samples) - n_aux} primary + {n_aux} auxiliary; "
          f"ranking in {ngdc.ranking_path(args.output)}")
    failed = pool_failed + aux_failed
    fail_if_skipped(failed, len(ranked) + pool.count + len(pool_failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
