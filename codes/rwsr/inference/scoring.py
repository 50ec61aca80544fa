"""What test.py measures per image: PSNR/SSIM/LPIPS against GT, NIQE without it."""
import math

from ..metrics import create_lpips_metric, image_metrics
from ..metrics.niqe import niqe_of_image
from ..utils.errors import RwsrError
from ..utils.logger import get_logger
from .channels import matching_gt

NIQE_NOTE = ("NIQE (Mittal et al. 2013, pristine model of the authors' release) on the Y channel of MATLAB's "
             "rgb2ycbcr, rounded, after crop_border pixels; lower is better")


def align_gt(gt, sr_shape, scale, name):
    """GT cropped to the SR size when it is larger by less than the scale (mod-crop), else an error."""
    extra_h, extra_w = gt.shape[0] - sr_shape[0], gt.shape[1] - sr_shape[1]
    tolerance = max(1, math.ceil(scale))
    if 0 <= extra_h < tolerance and 0 <= extra_w < tolerance:
        return gt[:sr_shape[0], :sr_shape[1]]
    raise RwsrError(f"{name}: GT is {gt.shape[1]}x{gt.shape[0]} but the x{scale:g} result is "
                    f"{sr_shape[1]}x{sr_shape[0]}; is it the right GT and scale?")


def gt_metrics(sr_img, gt, name, settings, scale):
    """PSNR/SSIM (RGB and Y) and LPIPS of the measured SR image against its GT (any layout), or None
    (with a warning) when the image is too small for the border crop or the SSIM window."""
    gt = align_gt(matching_gt(gt, sr_img), sr_img.shape, scale, name)
    try:
        return image_metrics(sr_img, gt, settings.crop_border, settings.lpips_metric)
    except ValueError as err:  # image too small for the border crop or the SSIM window
        get_logger().warning("%s: no PSNR/SSIM (%s)", name, err)
        return None


def niqe_score(sr_img, name, settings):
    """NIQE after the border crop, or None (with a warning) when it is undefined for this image."""
    try:
        return niqe_of_image(sr_img, settings.crop_border)
    except ValueError as err:  # fewer than two 96x96 blocks
        get_logger().warning("%s: no NIQE (%s)", name, err)
        return None


def lpips_for(with_gt, enabled, device, weights_dir, logger):
    """(LPIPS metric or None, note for metrics.json); a skipped LPIPS is announced."""
    if not with_gt:
        return None, None
    if not enabled:
        return None, "LPIPS skipped: --no_lpips"
    metric, reason = create_lpips_metric(device, weights_dir=weights_dir)
    if metric is None:
        logger.warning("%s", reason)
        return None, reason
    return metric, "LPIPS (AlexNet, v0.1)"
