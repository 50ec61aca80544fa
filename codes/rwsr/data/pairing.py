"""Matching HR and LR images by key and checking their sizes before training starts."""
from ..utils.errors import RwsrError

_SHOWN = 5


def _preview(keys):
    shown = ", ".join(sorted(keys)[:_SHOWN])
    more = len(keys) - _SHOWN
    return shown + (f", ... (+{more} more)" if more > 0 else "")


def _lr_lookup(lq_keys, scale):
    """LR key per HR key: the same name, or the name with a DIV2K-style 'x<scale>' suffix."""
    suffix = f"x{scale}"
    lookup = {}
    for key in lq_keys:
        lookup.setdefault(key, key)
    for key in lq_keys:
        if key.endswith(suffix) and key[: -len(suffix)] not in lookup:
            lookup[key[: -len(suffix)]] = key
    return lookup


def match_by_key(gt_keys, lq_keys, scale, gt_root, lq_root):
    """[(gt_key, lq_key)] for every HR image; any image without a partner is an error."""
    lookup = _lr_lookup(lq_keys, scale)
    pairs = [(key, lookup[key]) for key in gt_keys if key in lookup]
    missing_lq = [key for key in gt_keys if key not in lookup]
    used = {lq for _, lq in pairs}
    missing_gt = [key for key in lq_keys if key not in used]
    if missing_lq or missing_gt:
        parts = []
        if missing_lq:
            parts.append(f"{len(missing_lq)} HR image(s) in {gt_root} have no LR partner ({_preview(missing_lq)})")
        if missing_gt:
            parts.append(f"{len(missing_gt)} LR image(s) in {lq_root} have no HR partner ({_preview(missing_gt)})")
        raise RwsrError("; ".join(parts) + "; pairs are matched by file name without extension")
    return pairs


def check_pair_sizes(gt_name, gt_shape, lq_name, lq_shape, scale):
    """LR size x scale must equal the HR size after cropping it to a multiple of scale."""
    height, width = gt_shape
    expected = (height - height % scale, width - width % scale)
    got = (lq_shape[0] * scale, lq_shape[1] * scale)
    if got != expected:
        raise RwsrError(
            f"{lq_name}: LR {lq_shape[0]}x{lq_shape[1]} x{scale} is {got[0]}x{got[1]}, but its HR {gt_name} "
            f"is {height}x{width} ({expected[0]}x{expected[1]} cropped to a multiple of {scale}); "
            "regenerate the pair (preprocess/create_bicubic_dataset.py)")


def check_crop_fits(gt_name, gt_shape, gt_size, option_key):
    if gt_shape[0] < gt_size or gt_shape[1] < gt_size:
        raise RwsrError(f"{gt_name}: HR image {gt_shape[0]}x{gt_shape[1]} is smaller than GT_size {gt_size}; "
                        f"remove it or lower {option_key}")
