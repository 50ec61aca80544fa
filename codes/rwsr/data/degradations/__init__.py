"""On-the-fly degradations: Real-ESRGAN's second-order model with the real JPEG codec.

Pure kernel functions (`bivariate_gaussian_kernel`, `generalized_gaussian_kernel`,
`plateau_kernel`, `sinc_kernel`), `jpeg(batch, quality)`, `usm_sharpen`, and
`OnTheFlyDegradation`, which a training set with `mode: GT` uses on the training device:
degradation, then Real-ESRGAN's pair queue.
"""
import torch

from .filters import filter_per_image, usm_sharpen
from .jpeg import jpeg
from .kernels import (KERNEL_FAMILIES, bivariate_gaussian_kernel, generalized_gaussian_kernel, plateau_kernel,
                      sinc_kernel)
from .pipeline import DegradationSettings, SecondOrderDegradation, StageSettings
from .queue import PairQueue
from .random_kernels import BlurSettings


def blur_settings(dataset_opt, suffix=""):
    """The kernel keys of one blur stage (`suffix` "" or "2") of a `mode: GT` dataset."""
    def key(name):
        return dataset_opt[f"{name}{suffix}"]
    return BlurSettings(key("blur_kernel_size"), tuple(key("kernel_list")), tuple(key("kernel_prob")),
                        key("sinc_prob"), tuple(key("blur_sigma")), tuple(key("betag_range")),
                        tuple(key("betap_range")))


def stage_settings(degradation_opt, suffix=""):
    def key(name):
        value = degradation_opt[f"{name}{suffix}"]
        return tuple(value) if isinstance(value, list) else value
    return StageSettings(key("resize_prob"), key("resize_range"), key("gaussian_noise_prob"), key("noise_range"),
                         key("poisson_scale_range"), key("gray_noise_prob"), key("jpeg_range"))


def degradation_settings(opt, dataset_opt):
    """Settings from validated options: kernel keys of the dataset, the rest from `degradation`."""
    top = opt["degradation"]
    return DegradationSettings(blur_settings(dataset_opt), blur_settings(dataset_opt, "2"),
                               dataset_opt["final_sinc_prob"], stage_settings(top), stage_settings(top, "2"),
                               top["second_blur_prob"], opt["scale"], bool(top["gt_usm"]), top["gt_size"])


class OnTheFlyDegradation:
    """HR batch on the device -> (LR, HR target) after the degradation and the pair queue."""

    def __init__(self, settings, queue_size, device, seed):
        self.degrade = SecondOrderDegradation(settings, device, seed)
        self.queue = PairQueue(queue_size, self.degrade.draws)

    @torch.no_grad()
    def __call__(self, gt):
        lq, target = self.degrade(gt)
        return self.queue.mix(lq, target)

    def state_dict(self):
        return {"generators": self.degrade.state_dict(), "queue": self.queue.state_dict()}

    def load_state_dict(self, state):
        self.degrade.load_state_dict(state["generators"])
        self.queue.load_state_dict(state["queue"], self.degrade.device)


def build_degradation(opt, dataset_opt, device, seed):
    """The degradation of a `mode: GT` training set; None for paired sets."""
    if dataset_opt.get("mode") != "GT":
        return None
    return OnTheFlyDegradation(degradation_settings(opt, dataset_opt), opt["degradation"]["queue_size"], device, seed)


__all__ = ["KERNEL_FAMILIES", "bivariate_gaussian_kernel", "generalized_gaussian_kernel", "plateau_kernel",
           "sinc_kernel", "jpeg", "usm_sharpen", "filter_per_image", "SecondOrderDegradation",
           "OnTheFlyDegradation", "PairQueue", "build_degradation", "degradation_settings"]
