"""All metrics of one SR/GT pair, and their means over a set of images."""
import math

from .psnr_ssim import calculate_psnr, calculate_ssim

METRIC_KEYS = ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")


def image_metrics(sr, gt, crop_border, lpips_metric=None):
    """{psnr, ssim, psnr_y, ssim_y, lpips} of uint8 HxWx3 (or HxW) images; lpips None without a metric.

    PSNR/SSIM ignore `crop_border` pixels on each side (as in the SR literature);
    LPIPS sees the whole image. One-channel images are already luma: their Y
    metrics are the plain ones and LPIPS (an RGB network) is not computed.
    """
    values = {"psnr": calculate_psnr(sr, gt, crop_border), "ssim": calculate_ssim(sr, gt, crop_border)}
    if sr.ndim == 2:
        values.update(psnr_y=values["psnr"], ssim_y=values["ssim"], lpips=None)
        return values
    values["psnr_y"] = calculate_psnr(sr, gt, crop_border, test_y_channel=True)
    values["ssim_y"] = calculate_ssim(sr, gt, crop_border, test_y_channel=True)
    values["lpips"] = lpips_metric(sr, gt) if lpips_metric is not None else None
    return values


def mean_metrics(records, keys=METRIC_KEYS):
    """Mean of each key over the records that have a value for it (None when none has)."""
    means = {}
    for key in keys:
        values = [record[key] for record in records if record.get(key) is not None]
        means[key] = math.fsum(values) / len(values) if values else None
    return means
