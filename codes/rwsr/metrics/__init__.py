"""Image quality metrics: PSNR, SSIM (RGB and Y) and LPIPS."""
from .image_metrics import METRIC_KEYS, image_metrics, mean_metrics  # noqa: F401
from .lpips_metric import create_lpips_metric  # noqa: F401
from .psnr_ssim import calculate_psnr, calculate_ssim, rgb_to_y  # noqa: F401
