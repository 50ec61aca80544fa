"""Noise-guided data collection (NGDC): pick auxiliary HR images that suit the noise pool.

Training adds real noise patches to bicubic LR images. An auxiliary clean HR
image suits this when its own noise, as it appears in its bicubic LR, is well
below the pool's noise: the noise the model then sees is (almost only) the
target camera's. The rule used here:

- sigma_lr: the noise level (`noise_estimation.estimate_noise_sigma`) of the
  image's MATLAB-bicubic LR, exactly the LR that training makes on the fly;
- pool level: the median over the pool's patches of their standard deviation
  after removing each channel's mean, i.e. the amplitude that noise injection
  adds. (The estimator, which sees pixel-scale noise only, would understate
  JPEG-compressed camera noise, whose energy sits partly at coarser scales.)
- an image is eligible when sigma_lr <= margin * pool level (margin 0.5: its
  own noise carries at most a fifth of the LR noise variance after injection),
  and eligible images are ranked by sigma_lr, lowest first;
- an epoch keeps the primary set's length N: round(share * N) lines name the
  best eligible auxiliary images (LR made on the fly), the rest a seeded random
  subset of the primary pairs. With too few eligible images, all of them are
  used and primary pairs fill the epoch.

The list is the format `rwsr.data.train_list.read_train_list` reads.
"""
import csv
import io
import math
import os
from dataclasses import dataclass

import numpy as np

from ..data.train_list import ON_THE_FLY
from ..utils.errors import RwsrError
from ..utils.image_io import modcrop
from ..utils.imresize import imresize
from .noise_estimation import estimate_noise_sigma, to_unit255, zero_mean_std

SELECTED, ELIGIBLE, TOO_NOISY, TOO_SMALL, UNREADABLE = "selected", "eligible", "too noisy", "too small", "unreadable"
_STATUS_ORDER = {SELECTED: 0, ELIGIBLE: 1, TOO_NOISY: 2, TOO_SMALL: 3, UNREADABLE: 4}
RANKING_HEADER = ("rank", "path", "height", "width", "sigma_lr", "ratio_to_pool", "status", "note")


def lr_noise_sigma(img, scale):
    """Noise level (0-255 units) of the bicubic x1/scale LR of an HR image (uint8/uint16/float 0-255)."""
    hr, _ = to_unit255(modcrop(img, scale))
    lr = hr if scale == 1 else imresize(hr, 1.0 / scale)
    return estimate_noise_sigma(lr)


def patch_noise_levels(patch):
    """(estimator sigma, zero-mean std) of one noise patch, both in 0-255 units."""
    return estimate_noise_sigma(patch), zero_mean_std(patch)


@dataclass
class AuxCandidate:
    """One auxiliary HR image and the verdict on it."""
    path: str
    height: int = 0
    width: int = 0
    sigma_lr: float = math.nan
    status: str = ""
    note: str = ""
    ratio: float = math.nan


def rank_candidates(candidates, pool_level, margin, min_size=0):
    """Set each candidate's ratio and status; return them best first.

    Unreadable ones keep their status; images smaller than min_size (the
    training crop) are "too small"; the rest are eligible or "too noisy".
    """
    for cand in candidates:
        if cand.status == UNREADABLE:
            continue
        if not np.isfinite(cand.sigma_lr):
            cand.status, cand.note = TOO_SMALL, "LR too small to measure"
            continue
        if min(cand.height, cand.width) < min_size:
            cand.status, cand.note = TOO_SMALL, f"smaller than gt_size {min_size}"
            continue
        cand.ratio = cand.sigma_lr / pool_level if pool_level > 0 else math.inf
        if cand.ratio <= margin:
            cand.status = ELIGIBLE
        else:
            cand.status = TOO_NOISY
    return sorted(candidates, key=lambda c: (_STATUS_ORDER[c.status],
                                             c.sigma_lr if np.isfinite(c.sigma_lr) else math.inf, c.path))


def auxiliary_count(n_primary, share):
    """round(share * N), halves rounded up (Python's round would send 2.5 to 2)."""
    return int(math.floor(share * n_primary + 0.5))


def compose_epoch(primary_pairs, ranked, share, seed=0):
    """(samples, wanted) for one epoch of len(primary_pairs) samples.

    samples: [(gt_path, lq_path or None)], primary pairs first (in their order),
    then the chosen auxiliary images best first (their LR made on the fly).
    The chosen candidates get status "selected". wanted: the auxiliary count
    the share asked for (more than were used when too few were eligible).
    """
    if not 0.0 <= share <= 1.0:
        raise RwsrError(f"--share {share}: must lie in [0, 1]", exit_code=2)
    total = len(primary_pairs)
    wanted = auxiliary_count(total, share)
    chosen = [cand for cand in ranked if cand.status == ELIGIBLE][:wanted]
    for cand in chosen:
        cand.status = SELECTED
    rng = np.random.default_rng(seed)
    kept = np.sort(rng.choice(total, size=total - len(chosen), replace=False))
    samples = [primary_pairs[i] for i in kept] + [(cand.path, None) for cand in chosen]
    return samples, wanted


def _breaks_line(text):
    return len(f"a{text}b".splitlines()) > 1 or "\t" in text


def list_field(path, base):
    """A path as written in a list in folder base: relative when possible, never ambiguous."""
    path = os.path.abspath(path)
    try:
        field = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        field = path
    if _breaks_line(path) or path != path.rstrip():
        raise RwsrError(f"{path!r}: a tab, line break or trailing space in the name cannot be written to a "
                        "train_list; rename the file", exit_code=2)
    if field == ON_THE_FLY or field.startswith("#") or field != field.lstrip():
        field = os.path.join(os.curdir, field)  # not a comment, not '-', no leading blank
    return field


def format_train_list(samples, base, header_lines):
    """The list text: '# ' header lines, then 'GT<TAB>LQ' per sample (LQ '-': LR on the fly)."""
    lines = [f"# {line}" for line in header_lines]
    for gt_path, lq_path in samples:
        lq_field = ON_THE_FLY if lq_path is None else list_field(lq_path, base)
        lines.append(f"{list_field(gt_path, base)}\t{lq_field}")
    return "\n".join(lines) + "\n"


def format_ranking(ranked):
    """CSV text of the ranking, best first; ratio_to_pool = sigma_lr / pool level."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RANKING_HEADER)
    for rank, cand in enumerate(ranked, start=1):
        numbers = ["" if not np.isfinite(v) else f"{v:.4f}" for v in (cand.sigma_lr, cand.ratio)]
        writer.writerow((rank, cand.path, cand.height, cand.width, *numbers, cand.status, cand.note))
    return buffer.getvalue()


def ranking_path(list_path):
    """The CSV report beside the list: <list stem>_ranking.csv."""
    return os.path.splitext(list_path)[0] + "_ranking.csv"
