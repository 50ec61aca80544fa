"""Validation on any number of sets, and the choice of the best generator.

Every val_freq iterations rank 0 super-resolves each validation set (`datasets.val`,
`datasets.val_2`, ...), writes the SR images and computes the metrics of `val.metrics`.
`val.best_metric` on `val.best_dataset` (in `val.best_mode`) chooses best_G; a null best_metric
means PSNR for model sr and LPIPS for the GAN models (PSNR favours their blurriest iteration)
when its AlexNet weights are at hand.
"""
import json
import math
import os

import torch

from ..metrics import create_lpips_metric, image_metrics, mean_metrics
from ..utils.fs import atomic_write_text
from ..utils.image_io import image_stem, write_image
from ..utils.tensor_image import tensor_to_uint8

TB_IMAGES = 4  # validation images shown in TensorBoard per set


class Validator:
    """Metrics of the model on every validation set (rank 0)."""

    def __init__(self, opt, loaders, device, image_dir, logger):
        self.loaders = loaders  # {datasets key: loader}, in option-file order
        self.device = device
        self.image_dir = image_dir
        self.metrics = opt["val"]["metrics"]
        self.save_images = opt["val"]["save_images"]
        self.crop_border = opt["crop_border"]
        self.lpips = None
        if "lpips" in self.metrics:
            self.lpips, reason = create_lpips_metric(device, weights_dir=opt["path"]["pretrained_backbones"])
            if self.lpips is None:
                logger.info("validation LPIPS unavailable: %s", reason)

    def image_folder(self, key, name):
        """val_images/<image> for the first set (the official layout), val_images/<key>/<image> for others."""
        first = next(iter(self.loaders))
        return os.path.join(self.image_dir, name) if key == first else os.path.join(self.image_dir, key, name)

    def run(self, model, iteration, tensorboard):
        """{datasets key: {metric: mean}} for this iteration."""
        benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = False  # image sizes vary: timing algorithms per size would cost more
        try:
            return {key: self._run_set(key, loader, model, iteration, tensorboard)
                    for key, loader in self.loaders.items()}
        finally:
            torch.backends.cudnn.benchmark = benchmark

    def _run_set(self, key, loader, model, iteration, tensorboard):
        records = []
        for batch in loader:
            sr = model.test(batch["LQ"].to(self.device, non_blocking=True))
            sr_img, gt_img = tensor_to_uint8(sr[0]), tensor_to_uint8(batch["GT"][0])
            name = image_stem(batch["LQ_path"][0])
            if self.save_images:
                write_image(os.path.join(self.image_folder(key, name), f"{name}_{iteration}.png"), sr_img)
            if len(records) < TB_IMAGES:
                tensorboard.image(f"{key}/{name}", sr_img, iteration)
            records.append(image_metrics(sr_img, gt_img, self.crop_border, self.lpips, keys=self.metrics))
        return mean_metrics(records, self.metrics)

    def describe(self, metrics):
        return " ".join(f"{key}: {value:.4f}" if value is not None else f"{key}: unavailable"
                        for key, value in metrics.items())


def choose_best_metric(opt, lpips_available, logger):
    """(metric, mode) choosing best_G: val.best_metric, or its default for the model."""
    val = opt["val"]
    metric = val["best_metric"]
    if metric is None:
        fallback = "psnr" if "psnr" in val["metrics"] else val["metrics"][0]
        if opt["model"] == "sr" or ("lpips" in val["metrics"] and lpips_available):
            metric = fallback if opt["model"] == "sr" else "lpips"
        else:
            metric = fallback
            why = "LPIPS is unavailable" if "lpips" in val["metrics"] else "lpips is not among val.metrics"
            if logger is not None:
                logger.warning("val.best_metric: %s, so best_G of this GAN model is chosen by %s, which favours blurry "
                               "iterations; choose among the saved snapshots by eye or make LPIPS available", why,
                               metric)
    mode = val["best_mode"] or ("min" if metric == "lpips" else "max")
    return metric, mode


class BestTracker:
    """The best value so far of one metric on one validation set, and where it was reached."""

    def __init__(self, metric, mode, dataset):
        self.metric, self.mode, self.dataset = metric, mode, dataset
        self.value = self.iteration = None

    def is_better(self, value):
        if value is None or math.isnan(value):
            return False
        if self.value is None:
            return True
        return value > self.value if self.mode == "max" else value < self.value

    def update(self, results, iteration):
        """True when this iteration's value is the best so far (then it is recorded)."""
        value = results[self.dataset][self.metric]
        if not self.is_better(value):
            return False
        self.value, self.iteration = value, iteration
        return True

    def state_dict(self):
        if self.value is None:
            return None
        return {"metric": self.metric, "mode": self.mode, "dataset": self.dataset, "value": self.value,
                "iteration": self.iteration}

    def load_state_dict(self, state):
        """A saved best; one chosen by another metric, direction or set no longer counts."""
        if not state:
            return
        if "value" not in state:  # states written before best_metric existed held {"psnr", "iteration"}
            state = {"metric": "psnr", "mode": "max", "dataset": self.dataset, "value": state.get("psnr"),
                     "iteration": state.get("iteration")}
        if (state["metric"], state["mode"], state["dataset"]) == (self.metric, self.mode, self.dataset):
            self.value, self.iteration = state["value"], state["iteration"]

    def write_json(self, path, checkpoint):
        record = dict(self.state_dict(), checkpoint=checkpoint)
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
