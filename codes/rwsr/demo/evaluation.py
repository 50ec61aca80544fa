"""Held-out evaluation of the demo: the bicubic baseline, and the means of the metrics the models got."""
import json
import os

from ..inference.report import format_table, summary_row, write_metrics
from ..metrics import create_lpips_metric, image_metrics
from ..utils.image_io import image_stem, list_images, read_image_uint8, write_image
from ..utils.imresize import imresize_uint8

SUMMARY_KEYS = ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")


def bicubic_baseline(lr_dir, hr_dir, output_dir, scale):
    """MATLAB-bicubic upsampling of every LR image, scored like test.py scores a model."""
    lpips_metric, reason = create_lpips_metric("cpu")
    if lpips_metric is None:
        print(reason)  # says why LPIPS is skipped
    records = []
    for lr_path in list_images(lr_dir):
        name = image_stem(lr_path)
        sr = imresize_uint8(read_image_uint8(lr_path), scale)
        write_image(os.path.join(output_dir, f"{name}.png"), sr)
        gt = read_image_uint8(os.path.join(hr_dir, f"{name}.png"))
        record = image_metrics(sr, gt, scale, lpips_metric)
        record["image"] = name
        records.append(record)
    write_metrics(output_dir, records, info={"method": "bicubic (MATLAB imresize)"})
    print(format_table(records))
    return records


def mean_of_metrics_file(folder):
    """The `mean` entry of a metrics.json that test.py wrote."""
    with open(os.path.join(folder, "metrics.json")) as handle:
        mean = json.load(handle)["mean"]
    return {key: mean.get(key) for key in SUMMARY_KEYS}


def mean_of_records(records):
    row = summary_row(records)
    return {key: row.get(key) for key in SUMMARY_KEYS}


def format_comparison(summary):
    """Markdown table: one row per method."""
    lines = ["| method | PSNR (dB) | SSIM | PSNR Y (dB) | SSIM Y | LPIPS |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for method, values in summary.items():
        cells = []
        for key in SUMMARY_KEYS:
            value = values.get(key)
            cells.append("n/a" if value is None else (f"{value:.2f}" if key.startswith("psnr") else f"{value:.4f}"))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
