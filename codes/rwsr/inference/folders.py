"""Super-resolve a list of samples: write each result, measure it against GT, report failures."""
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..metrics import image_metrics
from ..utils.errors import RwsrError
from ..utils.image_io import write_image
from ..utils.logger import get_logger
from .sr_inference import tensor_to_uint8


@dataclass
class BatchSettings:
    output_dir: str
    ext: str = "png"
    suffix: str = ""
    overwrite: bool = False
    crop_border: int = 4
    lpips_metric: object = None
    progress: bool = True


@dataclass
class BatchResult:
    records: list = field(default_factory=list)  # one dict per image measured against GT
    written: list = field(default_factory=list)  # output paths
    failures: list = field(default_factory=list)  # (label, reason)


def output_path(settings, name):
    return os.path.join(settings.output_dir, f"{name}{settings.suffix or ''}.{settings.ext}")


def align_gt(gt, sr_shape, scale, name):
    """GT cropped to the SR size when it is larger by less than the scale (mod-crop), else an error."""
    extra_h, extra_w = gt.shape[0] - sr_shape[0], gt.shape[1] - sr_shape[1]
    if 0 <= extra_h < scale and 0 <= extra_w < scale:
        return gt[:sr_shape[0], :sr_shape[1]]
    raise RwsrError(f"{name}: GT is {gt.shape[1]}x{gt.shape[0]} but the x{scale} result is "
                    f"{sr_shape[1]}x{sr_shape[0]}; is it the right GT and scale?")


def _super_resolve(inference, lr, label):
    try:
        return inference.run(lr)
    except torch.cuda.OutOfMemoryError:
        raise RwsrError(f"{label}: out of GPU memory; pass --tile 256 (or smaller)") from None


def _measure(sr_img, gt, name, settings, scale):
    gt = align_gt(gt, sr_img.shape, scale, name)
    try:
        return image_metrics(sr_img, gt, settings.crop_border, settings.lpips_metric)
    except ValueError as err:  # image too small for the border crop or the SSIM window
        get_logger().warning("%s: no PSNR/SSIM (%s)", name, err)
        return None


def _process(sample, inference, settings, result, seen):
    loaded = sample.load()
    start = time.perf_counter()
    sr_img = tensor_to_uint8(_super_resolve(inference, loaded.lr, sample.label))
    seconds = time.perf_counter() - start
    path = output_path(settings, loaded.name)
    if path in seen:
        raise RwsrError(f"{sample.label}: output {path} was already written by {seen[path]} in this run")
    if os.path.exists(path) and not settings.overwrite:
        raise RwsrError(f"{path}: exists; pass --overwrite to replace it")
    write_image(path, sr_img)
    seen[path] = sample.label
    result.written.append(path)
    record = {"image": loaded.name, "seconds": seconds}
    if loaded.gt is not None:
        metrics = _measure(sr_img, loaded.gt, loaded.name, settings, inference.scale)
        if metrics is not None:
            record.update(metrics)
            result.records.append(record)
    return record


def _describe(record):
    parts = [f"{record['image']}  {record['seconds']:.2f}s"]
    if "psnr" in record:
        parts.append(f"PSNR {record['psnr']:.2f} dB  SSIM {record['ssim']:.4f}  "
                     f"PSNR_Y {record['psnr_y']:.2f} dB  SSIM_Y {record['ssim_y']:.4f}")
        if record.get("lpips") is not None:
            parts.append(f"LPIPS {record['lpips']:.4f}")
    return "  ".join(parts)


def run_batch(samples, inference, settings, description="images"):
    """Process every sample; failures (unreadable files, ...) are reported and skipped."""
    logger = get_logger()
    os.makedirs(settings.output_dir, exist_ok=True)
    result, seen = BatchResult(), {}
    bar = tqdm(samples, desc=description, unit="img", file=sys.stderr, disable=not settings.progress,
               dynamic_ncols=True)
    for sample in bar:
        try:
            record = _process(sample, inference, settings, result, seen)
        except RwsrError as err:
            result.failures.append((sample.label, str(err)))
            bar.write(f"skipped: {err}", file=sys.stderr)
            continue
        bar.set_postfix_str(f"{record['image']} {record['seconds']:.2f}s/img")
        logger.info("%s", _describe(record))
    return result
