"""The Python API of test.py: super-resolve a folder (or file, or dataset) of LR images.

    from rwsr.inference import super_resolve_folder
    result = super_resolve_folder("G.pth", "LR/", "SR/", gt="HR/", tile=256, ensemble=True)
    result.records  # per-image PSNR/SSIM/LPIPS and seconds; metrics.csv/json are beside the images

Each result is written as soon as it is ready; an unreadable image is reported and skipped.
"""
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..metrics import create_lpips_metric, image_metrics
from ..utils.errors import RwsrError
from ..utils.image_io import image_stem, write_image
from ..utils.logger import get_logger
from .inputs import file_samples, list_inputs
from .backends import resolve_device
from .loading import load_inference
from .report import METRICS_CSV, METRICS_JSON, write_metrics
from .sr_inference import tensor_to_uint8


@dataclass
class OutputSettings:
    output_dir: str
    ext: str = "png"
    suffix: str = ""
    overwrite: bool = False
    crop_border: int = 4
    lpips_metric: object = None
    progress: bool = True


@dataclass
class FolderResult:
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


def super_resolve_samples(samples, inference, settings, description="images"):
    """Process every sample (rwsr.inference.inputs); failures (unreadable files, ...) are reported and skipped."""
    logger = get_logger()
    os.makedirs(settings.output_dir, exist_ok=True)
    result, seen = FolderResult(), {}
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


# ---------------------------------------------------------------- checks before any work
def refuse_same_folder(output, inputs):
    """An output folder that is a file or one of the inputs is refused: nothing gets overwritten."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise RwsrError(f"{output}: exists and is not a folder; choose another output folder", exit_code=2)
    for label, path in inputs:
        if path and os.path.realpath(output) == os.path.realpath(path):
            raise RwsrError(f"{output}: output folder is the {label} folder; choose another --output", exit_code=2)


def check_conflicts(names, settings, with_metrics):
    """Existing results are kept unless overwrite: list them before any work starts."""
    if settings.overwrite:
        return
    paths = [output_path(settings, name) for name in names]
    if with_metrics:
        paths += [os.path.join(settings.output_dir, METRICS_CSV), os.path.join(settings.output_dir, METRICS_JSON)]
    existing = [path for path in paths if os.path.exists(path)]
    if existing:
        raise RwsrError(f"{existing[0]}: exists ({len(existing)} result file(s) would be replaced); "
                        "pass --overwrite or choose another --output", exit_code=2)


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


def write_report(result, settings, info, logger):
    """metrics.csv/json when images were measured; logs what was written and what failed."""
    if result.records:
        csv_path, json_path = write_metrics(settings.output_dir, result.records, info)
        logger.info("metrics: %s, %s", csv_path, json_path)
    logger.info("%d image(s) written to %s", len(result.written), settings.output_dir)
    for label, reason in result.failures:
        logger.warning("failed: %s (%s)", label, reason)


# ---------------------------------------------------------------- the public entry
def super_resolve_folder(model, inputs, outputs, gt=None, *, tile=0, tile_pad=16, tile_batch=0, ensemble=False,
                         back_projection=0, half=False, compile=False, backend="auto", device="auto",
                         overrides=None, prefer_ema=True, ext="png", suffix="", crop_border=None, overwrite=False,
                         lpips=True, progress=True, logger=None):
    """Super-resolve every image of `inputs` (a folder or one file) into the folder `outputs`.

    model: a generator file (.pth, .safetensors, .onnx) or an SRInference. gt: a folder of HR
    images with the same names; PSNR/SSIM (RGB and Y, `crop_border` = scale by default) and LPIPS
    (when its weights exist) are then written to metrics.csv/json. Existing results are an error
    unless overwrite. Returns a FolderResult (records, written, failures).
    """
    logger = logger or get_logger()
    lr_paths = list_inputs(inputs)
    input_dir = inputs if os.path.isdir(inputs) else os.path.dirname(os.path.abspath(inputs))
    refuse_same_folder(outputs, [("input", input_dir), ("GT", gt)])
    settings = OutputSettings(output_dir=outputs, ext=ext, suffix=suffix or "", overwrite=overwrite,
                              progress=progress)
    check_conflicts([image_stem(path) for path in lr_paths], settings, with_metrics=bool(gt))
    owned = not hasattr(model, "run")
    inference = model
    if owned:
        test_settings = dict(tile=tile, tile_pad=tile_pad, tile_batch=tile_batch, ensemble=ensemble, half=half,
                             compile=compile, back_projection=back_projection > 0,
                             back_projection_iters=max(1, back_projection))
        inference = load_inference(model, test_settings, backend, device, overrides, prefer_ema, logger=logger)
    try:
        samples = file_samples(inputs, gt, inference.scale)
        settings.lpips_metric, lpips_note = lpips_for(bool(gt), lpips, resolve_device(device), None, logger)
        settings.crop_border = crop_border if crop_border is not None else inference.scale
        result = super_resolve_samples(samples, inference, settings,
                                       description=os.path.basename(os.path.normpath(inputs)))
        info = {"model": model if owned else None, "input": inputs, "gt": gt, "scale": inference.scale,
                "crop_border": settings.crop_border, "lpips": lpips_note}
        write_report(result, settings, info, logger)
    finally:
        if owned:
            inference.close()
    return result
