"""All metrics of one SR/GT pair, and their means over a set of images."""
import math

from ..options.schema import METRICS as METRIC_KEYS
from .psnr_ssim import calculate_psnr, calculate_ssim


def image_metrics(sr, gt, crop_border, lpips_metric=None, keys=METRIC_KEYS):
    """The `keys` of {psnr, ssim, psnr_y, ssim_y, lpips} for uint8 HxWx3 (or HxW) images.

    PSNR/SSIM ignore `crop_border` pixels on each side (as in the SR literature);
    LPIPS sees the whole image and is None without a metric. One-channel images are
    already luma: their Y metrics are the plain ones and LPIPS (an RGB network) is None.
    """
    gray = sr.ndim == 2
    compute = {
        "psnr": lambda: calculate_psnr(sr, gt, crop_border),
        "ssim": lambda: calculate_ssim(sr, gt, crop_border),
        "psnr_y": lambda: calculate_psnr(sr, gt, crop_border, test_y_channel=not gray),
        "ssim_y": lambda: calculate_ssim(sr, gt, crop_border, test_y_channel=not gray),
        "lpips": lambda: lpips_metric(sr, gt) if lpips_metric is not None and not gray else None,
    }
    return {key: compute[key]() for key in keys}


def mean_metrics(records, keys=METRIC_KEYS):
    """Mean of each key over the records that have a value for it (None when none has)."""
    means = {}
    for key in keys:
        values = [record[key] for record in records if record.get(key) is not None]
        means[key] = math.fsum(values) / len(values) if values else None
    return means
