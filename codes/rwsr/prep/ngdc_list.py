"""Writing an NGDC training list and its ranking (the ngdc command).

Measures the noise pool and every auxiliary image (in worker processes),
ranks the auxiliary images and composes one epoch with the rule of
rwsr.prep.ngdc, then writes the list (the format rwsr.data.train_list reads)
and `<list stem>_ranking.csv` beside it.
"""
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..data.pairing import match_by_key
from ..data.sources import FolderSource
from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from ..utils.image_io import read_image
from ..utils.lmdb_format import is_lmdb
from . import ngdc
from .batch import TaskResult, check_workers, fail_if_skipped, run_batch
from .folders import list_input_images
from .noise_estimation import NoisePoolStats

MIN_LR_SIDE = 3  # the noise estimator needs a 3x3 LR


@dataclass
class NgdcSettings:
    """The inputs and choices of one list, named as the command's flags."""
    primary_gt: str
    aux: str
    noise: str
    output: str
    primary_lq: Optional[str] = None
    share: float = 0.25
    scale: int = 4
    margin: float = 0.5
    gt_size: int = 0
    seed: int = 0
    workers: int = 1
    overwrite: bool = False


def check_settings(settings):
    if not 0.0 <= settings.share <= 1.0:
        raise RwsrError(f"--share {settings.share:g}: must lie in [0, 1]", exit_code=2)
    if not settings.margin > 0:
        raise RwsrError(f"--margin {settings.margin:g}: must be positive (0.5: half the pool's noise level)",
                        exit_code=2)
    if settings.scale < 1:
        raise RwsrError(f"--scale {settings.scale}: must be a positive integer", exit_code=2)
    if settings.gt_size < 0:
        raise RwsrError(f"--gt_size {settings.gt_size}: must not be negative", exit_code=2)
    check_workers(settings.workers)
    for path in (settings.output, ngdc.ranking_path(settings.output)):
        if os.path.isdir(path):
            raise RwsrError(f"--output {path} is a folder; give a file name such as train_ngdc.txt", exit_code=2)
        if os.path.exists(path) and not settings.overwrite:
            raise RwsrError(f"{path} exists; pass --overwrite to replace it or choose another --output",
                            exit_code=2)


def image_folder(path, flag):
    if not os.path.isdir(path):
        raise RwsrError(f"{flag} {path}: not a folder; check the path", exit_code=2)
    if is_lmdb(path):
        raise RwsrError(f"{flag} {path}: is an LMDB; a train_list names image files, give the image folder",
                        exit_code=2)
    return path


def primary_pairs(settings):
    """[(gt_path, lq_path or None)] of the primary set, matched by name."""
    gt = FolderSource(image_folder(settings.primary_gt, "--primary_gt"))
    if not settings.primary_lq:
        return [(gt.path(key), None) for key in gt.keys]
    lq = FolderSource(image_folder(settings.primary_lq, "--primary_lq"))
    pairs = match_by_key(gt.keys, lq.keys, settings.scale, settings.primary_gt, settings.primary_lq)
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


def header_lines(settings, pool, n_primary, n_aux, eligible, total_aux):
    summary = pool.summary()
    folders = {"primary_gt": settings.primary_gt, "primary_lq": settings.primary_lq or ngdc.ON_THE_FLY,
               "aux": settings.aux, "noise": settings.noise}
    return [
        "NGDC training list written by preprocess/ngdc.py; each line: GT_path<TAB>LQ_path "
        "('-': LR made on the fly with MATLAB bicubic); paths relative to this file's folder",
        " ".join(f"{key}={os.path.abspath(value) if value != ngdc.ON_THE_FLY else value}"
                 for key, value in folders.items()),
        f"share={settings.share:g} scale={settings.scale} margin={settings.margin:g} gt_size={settings.gt_size} "
        f"seed={settings.seed}",
        f"noise pool: {summary['patches']} patches, level (median zero-mean std) "
        f"{summary['injected_std_median']:.3f}; estimator sigma median {summary['sigma_median']:.3f} "
        f"(p10 {summary['sigma_p10']:.3f}, p90 {summary['sigma_p90']:.3f}); 0-255 units",
        f"epoch: {n_primary + n_aux} samples = {n_primary} primary + {n_aux} auxiliary; "
        f"{eligible} of {total_aux} auxiliary images eligible",
    ]


def make_ngdc_list(settings):
    """Write the list and the ranking of NgdcSettings; prints what was chosen.

    Unreadable patches or auxiliary images are skipped and reported; the list
    is still written, and the RwsrError for them comes at the end.
    """
    check_settings(settings)
    pairs = primary_pairs(settings)
    pool, pool_failed = pool_statistics(settings.noise, settings.workers)
    candidates, aux_failed = auxiliary_candidates(settings.aux, settings.scale, settings.workers)
    pool_level = pool.median_injected_std
    ranked = ngdc.rank_candidates(candidates, pool_level, settings.margin, settings.gt_size)
    eligible = sum(c.status == ngdc.ELIGIBLE for c in ranked)
    samples, wanted = ngdc.compose_epoch(pairs, ranked, settings.share, settings.seed)
    n_aux = sum(c.status == ngdc.SELECTED for c in ranked)
    output, ranking = settings.output, ngdc.ranking_path(settings.output)
    header = header_lines(settings, pool, len(samples) - n_aux, n_aux, eligible, len(ranked))
    atomic_write_text(output, ngdc.format_train_list(samples, os.path.dirname(os.path.abspath(output)), header))
    atomic_write_text(ranking, ngdc.format_ranking(ranked))
    print(f"noise pool: {pool.count} patches, level {pool_level:.3f}")
    print(f"auxiliary: {eligible} of {len(ranked)} eligible (LR sigma <= {settings.margin:g} x {pool_level:.3f} "
          f"= {settings.margin * pool_level:.3f}), {n_aux} used")
    if n_aux < wanted:
        print(f"note: share {settings.share:g} asks for {wanted} auxiliary images but only {n_aux} are eligible; "
              f"primary pairs fill the other {wanted - n_aux}")
    print(f"wrote {output}: {len(samples)} samples = {len(samples) - n_aux} primary + {n_aux} auxiliary; "
          f"ranking in {ranking}")
    fail_if_skipped(pool_failed + aux_failed, len(ranked) + pool.count + len(pool_failed))
