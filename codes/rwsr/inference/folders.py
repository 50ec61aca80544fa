"""The Python API of test.py: super-resolve a folder (or file, or dataset) of LR images.

    from rwsr.inference import super_resolve_folder
    result = super_resolve_folder("G.pth", "LR/", "SR/", gt="HR/", tile=256, ensemble=True)
    result.records  # per-image PSNR/SSIM/LPIPS (NIQE without GT) and seconds; metrics.csv/json beside

Each result is written as soon as it is ready; an unreadable image is reported and skipped. Images
keep their layout and bit depth (gray, gray+alpha, RGB, RGBA; 8 or 16 bits: rwsr.inference.channels);
videos are processed frame by frame (rwsr.inference.video).
"""
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..utils.errors import RwsrError
from ..utils.image_io import ALPHA_EXTENSIONS, SIXTEEN_BIT_EXTENSIONS, has_alpha, write_image
from ..utils.logger import get_logger
from .backends import resolve_device
from .channels import ImageUpscaler, check_settings, measurement_image
from .inputs import VideoSample, file_samples
from .loading import load_inference
from .report import METRICS_CSV, METRICS_JSON, write_metrics
from .scoring import NIQE_NOTE, gt_metrics, lpips_for, niqe_score
from .video import super_resolve_video

@dataclass
class OutputSettings:
    output_dir: str
    ext: str = "png"
    suffix: str = ""
    overwrite: bool = False
    crop_border: int = 4
    lpips_metric: object = None
    progress: bool = True
    alpha: str = "bicubic"  # how alpha channels are upscaled: bicubic or model
    outscale: object = None  # final size / input size when it differs from the model's factor
    niqe: bool = True  # NIQE per image when there is no GT


@dataclass
class FolderResult:
    records: list = field(default_factory=list)  # one dict per image measured (against GT, or NIQE)
    written: list = field(default_factory=list)  # output paths
    failures: list = field(default_factory=list)  # (label, reason)


def output_path(settings, name, ext=None):
    return os.path.join(settings.output_dir, f"{name}{settings.suffix or ''}.{ext or settings.ext}")


def sample_output_path(settings, sample):
    """Images take --ext; a video keeps its container (clip.mp4 -> OUT/clip.mp4)."""
    if isinstance(sample, VideoSample):
        return output_path(settings, sample.name, os.path.splitext(sample.path)[1][1:].lower())
    return output_path(settings, sample.name)


def _super_resolve(upscaler, lr, label):
    try:
        return upscaler.run(lr) if isinstance(lr, np.ndarray) else upscaler.run_tensor(lr)
    except torch.cuda.OutOfMemoryError:
        raise RwsrError(f"{label}: out of GPU memory even with small tiles; free GPU memory or use --device cpu") from None


def _reserve(path, label, settings, seen):
    """An output path not written before in this run and not existing unless overwrite."""
    if path in seen:
        raise RwsrError(f"{label}: output {path} was already written by {seen[path]} in this run")
    if os.path.exists(path) and not settings.overwrite:
        raise RwsrError(f"{path}: exists; pass --overwrite to replace it")
    seen[path] = label


def _warn_format_losses(img, settings, label, warned):
    """Once per run: what --ext cannot store (alpha in JPEG, 16 bits in JPEG/WebP)."""
    ext = "." + settings.ext.lower()
    losses = []
    if has_alpha(img) and ext not in ALPHA_EXTENSIONS:
        losses.append("alpha is dropped")
    if img.dtype == np.uint16 and ext not in SIXTEEN_BIT_EXTENSIONS:
        losses.append("16-bit is rounded to 8 bits")
    for loss in losses:
        if loss not in warned:
            warned.add(loss)
            get_logger().warning("%s: --ext %s: %s (png or tif keep everything)", label, settings.ext, loss)


def _process(sample, upscaler, settings, result, seen, warned, bar):
    if isinstance(sample, VideoSample):
        return _process_video(sample, upscaler, settings, result, seen, bar)
    loaded = sample.load()
    start = time.perf_counter()
    sr_img = _super_resolve(upscaler, loaded.lr, sample.label)
    seconds = time.perf_counter() - start
    path = output_path(settings, loaded.name)
    _reserve(path, sample.label, settings, seen)
    _warn_format_losses(sr_img, settings, sample.label, warned)
    write_image(path, sr_img)
    result.written.append(path)
    record = {"image": loaded.name, "seconds": seconds}
    measured = measurement_image(sr_img)
    if loaded.gt is not None:
        metrics = gt_metrics(measured, loaded.gt, loaded.name, settings, upscaler.scale)
        if metrics is not None:
            record.update(metrics)
            result.records.append(record)
    elif settings.niqe:
        record["niqe"] = niqe_score(measured, loaded.name, settings)
        result.records.append(record)
    return record


def _process_video(sample, upscaler, settings, result, seen, bar):
    path = sample_output_path(settings, sample)
    _reserve(path, sample.label, settings, seen)
    info = super_resolve_video(sample.path, path, upscaler.run, upscaler.target_size,
                               on_frame=lambda count: bar.set_postfix_str(f"{sample.name} frame {count}"))
    result.written.append(path)
    return {"image": sample.name, "seconds": info["seconds"], "frames": info["frames"]}


def _describe(record):
    parts = [f"{record['image']}  {record['seconds']:.2f}s"]
    if "frames" in record:
        parts.append(f"{record['frames']} frames")
    if record.get("niqe") is not None:
        parts.append(f"NIQE {record['niqe']:.4f}")
    if "psnr" in record:
        parts.append(f"PSNR {record['psnr']:.2f} dB  SSIM {record['ssim']:.4f}  "
                     f"PSNR_Y {record['psnr_y']:.2f} dB  SSIM_Y {record['ssim_y']:.4f}")
        if record.get("lpips") is not None:
            parts.append(f"LPIPS {record['lpips']:.4f}")
    return "  ".join(parts)


def super_resolve_samples(samples, inference, settings, description="images"):
    """Process every sample (rwsr.inference.inputs); failures (unreadable files, ...) are reported and skipped."""
    logger = get_logger()
    os.makedirs(settings.output_dir, exist_ok=True)
    result, seen, warned = FolderResult(), {}, set()
    upscaler = ImageUpscaler(inference, settings.alpha, settings.outscale)
    bar = tqdm(samples, desc=description, unit="img", file=sys.stderr, disable=not settings.progress,
               dynamic_ncols=True)
    for sample in bar:
        try:
            record = _process(sample, upscaler, settings, result, seen, warned, bar)
        except RwsrError as err:
            result.failures.append((sample.label, str(err)))
            bar.write(f"skipped: {err}", file=sys.stderr)
            continue
        bar.set_postfix_str(f"{record['image']} {record['seconds']:.2f}s/img")
        logger.info("%s", _describe(record))
    return result


# ---------------------------------------------------------------- checks before any work
def refuse_same_folder(output, inputs):
    """An output folder that is a file or one of the inputs is refused: nothing gets overwritten."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise RwsrError(f"{output}: exists and is not a folder; choose another output folder", exit_code=2)
    for label, path in inputs:
        if path and os.path.realpath(output) == os.path.realpath(path):
            raise RwsrError(f"{output}: output folder is the {label} folder; choose another --output", exit_code=2)


def check_conflicts(samples, settings, with_metrics):
    """Existing results are kept unless overwrite: list them before any work starts."""
    if settings.overwrite:
        return
    paths = [sample_output_path(settings, sample) for sample in samples]
    if with_metrics:
        paths += [os.path.join(settings.output_dir, METRICS_CSV), os.path.join(settings.output_dir, METRICS_JSON)]
    existing = [path for path in paths if os.path.exists(path)]
    if existing:
        raise RwsrError(f"{existing[0]}: exists ({len(existing)} result file(s) would be replaced); "
                        "pass --overwrite or choose another --output", exit_code=2)


def write_report(result, settings, info, logger):
    """metrics.csv/json when images were measured; logs what was written and what failed."""
    if any("niqe" in record for record in result.records):
        info = dict(info, niqe=NIQE_NOTE)
    if result.records:
        csv_path, json_path = write_metrics(settings.output_dir, result.records, info)
        logger.info("metrics: %s, %s", csv_path, json_path)
    logger.info("%d result(s) written to %s", len(result.written), settings.output_dir)
    for label, reason in result.failures:
        logger.warning("failed: %s (%s)", label, reason)


# ---------------------------------------------------------------- the public entry
def super_resolve_folder(model, inputs, outputs, gt=None, *, tile=0, tile_pad=16, tile_batch=0, ensemble=False,
                         back_projection=0, half=False, fp32=False, compile=False, backend="auto", device="auto",
                         overrides=None, prefer_ema=True, ext="png", suffix="", crop_border=None, overwrite=False,
                         lpips=True, progress=True, logger=None, interp=None, plugins=(), alpha="bicubic",
                         outscale=None, niqe=True):
    """Super-resolve every image (and video) of `inputs` (a folder or one file) into the folder `outputs`.

    model: a generator file (.pth, .safetensors, .onnx) or an SRInference. gt: a folder of HR
    images with the same names; PSNR/SSIM (RGB and Y, `crop_border` = scale by default) and LPIPS
    (when its weights exist) are then written to metrics.csv/json; without gt, NIQE (unless
    niqe=False). alpha: bicubic or model (how alpha channels are upscaled); outscale: any final
    factor (the model's output resized with MATLAB bicubic). Existing results are an error unless
    overwrite. Returns a FolderResult (records, written, failures). interp, plugins: as
    load_inference's.
    """
    logger = logger or get_logger()
    input_dir = inputs if os.path.isdir(inputs) else os.path.dirname(os.path.abspath(inputs))
    refuse_same_folder(outputs, [("input", input_dir), ("GT", gt)])
    settings = OutputSettings(output_dir=outputs, ext=ext, suffix=suffix or "", overwrite=overwrite,
                              progress=progress, alpha=alpha, outscale=outscale, niqe=niqe)
    check_settings(alpha, outscale)  # before any work
    listed = file_samples(inputs)
    scored = niqe and any(not isinstance(sample, VideoSample) for sample in listed)
    check_conflicts(listed, settings, with_metrics=bool(gt) or scored)
    owned = not hasattr(model, "run")
    inference = model
    if owned:
        test_settings = dict(tile=tile, tile_pad=tile_pad, tile_batch=tile_batch, ensemble=ensemble, half=half,
                             fp32=fp32, compile=compile, back_projection=back_projection > 0,
                             back_projection_iters=max(1, back_projection))
        inference = load_inference(model, test_settings, backend, device, overrides, prefer_ema, logger=logger,
                                   interp=interp, plugins=plugins)
    try:
        samples = file_samples(inputs, gt, inference.scale)
        settings.lpips_metric, lpips_note = lpips_for(bool(gt), lpips, resolve_device(device), None, logger)
        settings.crop_border = crop_border if crop_border is not None else inference.scale
        result = super_resolve_samples(samples, inference, settings,
                                       description=os.path.basename(os.path.normpath(inputs)))
        info = {"model": model if owned else None, "runtime": getattr(inference, "runtime", None),
                "input": inputs, "gt": gt, "scale": inference.scale,
                "outscale": settings.outscale, "crop_border": settings.crop_border, "lpips": lpips_note}
        write_report(result, settings, info, logger)
    finally:
        if owned:
            inference.close()
    return result
