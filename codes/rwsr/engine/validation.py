"""Validation: PSNR/SSIM (RGB and Y), LPIPS when available, SR images, best generator."""
import math
import os

import torch

from ..metrics import calculate_psnr, calculate_ssim, create_lpips_metric
from ..utils.image_io import image_stem, write_image

TB_IMAGES = 4  # validation images shown in TensorBoard
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")


def tensor_to_uint8(tensor):
    """CxHxW float in [0, 1] -> HxWxC (HxW for one channel) uint8, rounded."""
    img = tensor.detach().float().clamp_(0, 1).mul_(255).round_().to(torch.uint8).cpu().numpy()
    img = img.transpose(1, 2, 0)
    return img[..., 0] if img.shape[2] == 1 else img


def image_metrics(sr_img, gt_img, crop_border, lpips_metric):
    """Every metric of one image pair (uint8); Y metrics equal RGB ones for one-channel images."""
    values = {"psnr": calculate_psnr(sr_img, gt_img, crop_border),
              "ssim": calculate_ssim(sr_img, gt_img, crop_border)}
    if sr_img.ndim == 3:
        values["psnr_y"] = calculate_psnr(sr_img, gt_img, crop_border, test_y_channel=True)
        values["ssim_y"] = calculate_ssim(sr_img, gt_img, crop_border, test_y_channel=True)
        if lpips_metric is not None:
            values["lpips"] = lpips_metric(sr_img, gt_img)
    else:
        values["psnr_y"], values["ssim_y"] = values["psnr"], values["ssim"]
    return values


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
        sums, count = {}, 0
        for batch in self.loader:
            sr = model.test(batch["LQ"].to(self.device, non_blocking=True))
            sr_img, gt_img = tensor_to_uint8(sr[0]), tensor_to_uint8(batch["GT"][0])
            name = image_stem(batch["LQ_path"][0])
            write_image(os.path.join(self.image_dir, name, f"{name}_{iteration}.png"), sr_img)
            if count < TB_IMAGES:
                tensorboard.image(f"val/{name}", sr_img, iteration)
            for key, value in image_metrics(sr_img, gt_img, self.crop_border, self.lpips).items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
        return {key: sums[key] / count if key in sums else None for key in METRICS}

    def describe(self, metrics):
        parts = [f"{key}: {metrics[key]:.4f}" for key in METRICS[:4]]
        lpips = metrics["lpips"]
        parts.append(f"lpips: {lpips:.4f}" if lpips is not None else "lpips: unavailable")
        return " ".join(parts)


def is_better(psnr, best):
    return psnr is not None and not math.isnan(psnr) and (best is None or psnr > best)

