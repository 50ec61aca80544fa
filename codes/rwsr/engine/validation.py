"""Validation: PSNR/SSIM (RGB and Y), LPIPS when available, SR images, best generator."""
import math
import os


from ..metrics import create_lpips_metric, image_metrics, mean_metrics
from ..utils.image_io import image_stem, write_image
from ..utils.tensor_image import tensor_to_uint8

TB_IMAGES = 4  # validation images shown in TensorBoard
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")


class Validator:
    """Runs on rank 0 every val_freq iterations."""

    def __init__(self, opt, loader, device, image_dir, logger):
        self.loader = loader
        self.device = device
        self.image_dir = image_dir
        self.crop_border = opt["crop_border"]
        self.logger = logger
        self.lpips, reason = create_lpips_metric(device, weights_dir=opt["path"]["pretrained_backbones"])
        self.lpips_note = reason
        if self.lpips is None:
            logger.info("validation LPIPS unavailable: %s", reason)

    def run(self, model, iteration, tensorboard):
        records = []
        for batch in self.loader:
            sr = model.test(batch["LQ"].to(self.device, non_blocking=True))
            sr_img, gt_img = tensor_to_uint8(sr[0]), tensor_to_uint8(batch["GT"][0])
            name = image_stem(batch["LQ_path"][0])
            write_image(os.path.join(self.image_dir, name, f"{name}_{iteration}.png"), sr_img)
            if len(records) < TB_IMAGES:
                tensorboard.image(f"val/{name}", sr_img, iteration)
            records.append(image_metrics(sr_img, gt_img, self.crop_border, self.lpips))
        return mean_metrics(records, METRICS)

    def describe(self, metrics):
        parts = [f"{key}: {metrics[key]:.4f}" for key in METRICS[:4]]
        lpips = metrics["lpips"]
        parts.append(f"lpips: {lpips:.4f}" if lpips is not None else "lpips: unavailable")
        return " ".join(parts)


def is_better(psnr, best):
    return psnr is not None and not math.isnan(psnr) and (best is None or psnr > best)

