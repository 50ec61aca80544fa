"""The ablation's outputs: timing read from train.log, the Markdown table and the crop figure."""
import datetime
import os
import re
import statistics

import numpy as np

from ..utils.fs import atomic_write_text
from ..utils.image_io import read_image_uint8
from .figures import detail_crop_box
from .train_progress import parse_train_line

_TIMESTAMP = re.compile(r"^(\d\d-\d\d-\d\d \d\d:\d\d:\d\d) ")
_SESSION_START = "random seed "  # the first line every train.py session logs
COLUMNS = (("PSNR (dB)", "psnr", "{:.2f}"), ("SSIM", "ssim", "{:.4f}"), ("LPIPS", "lpips", "{:.4f}"),
           ("gradient energy", "gradient_energy", "{:.1f}"), ("s / iteration", "seconds_per_iteration", "{:.2f}"))


def training_timing(log_path):
    """{seconds_per_iteration, train_seconds} from a train.log, over every session it holds.

    seconds_per_iteration: median of the logged windows' `time:` (robust to the first window's
    warm-up and to other jobs' bursts); train_seconds: first to last timestamp of each session, summed.
    """
    windows, sessions = [], []
    with open(log_path, encoding="utf-8") as handle:
        for line in handle:
            parsed = parse_train_line(line)
            if parsed is not None:
                windows.append(parsed[1])
            stamp = _TIMESTAMP.match(line)
            if stamp is None:
                continue
            when = datetime.datetime.strptime(stamp.group(1), "%y-%m-%d %H:%M:%S")
            if _SESSION_START in line or not sessions:
                sessions.append([when, when])
            sessions[-1][1] = when
    return {"seconds_per_iteration": statistics.median(windows) if windows else None,
            "train_seconds": sum((end - start).total_seconds() for start, end in sessions)}


def _cell(value, fmt):
    return "n/a" if value is None else fmt.format(value)


def format_table(rows):
    """Markdown table; rows: [(method, description, result dict)] with the keys of COLUMNS (missing: n/a)."""
    lines = ["| method | what | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
             "| --- | --- |" + " ---: |" * len(COLUMNS)]
    for method, description, result in rows:
        cells = [_cell(result.get(key), fmt) for _, key, fmt in COLUMNS]
        lines.append(f"| {method} | {description} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe_run(command, budget, results, hr_energy, image_names, machine):
    """The paragraphs under the table: command, budget, what was measured and how."""
    arms = [(method, result) for method, _, result in results if result.get("iterations")]
    minutes = sum(result.get("train_seconds") or 0 for _, result in arms) / 60
    speeds = ", ".join(f"{method} {result['seconds_per_iteration']:.2f}" for method, result in arms
                       if result.get("seconds_per_iteration") is not None)
    feature = (f"VGG19 {budget['feature_layer']}, "
               + ("ImageNet weights" if budget["feature_pretrained"]
                  else "random weights (no ImageNet weights offline)"))
    lpips = ("LPIPS (AlexNet) is n/a: its ImageNet weights were not available"
             if all(result.get("lpips") is None for _, _, result in results) else "LPIPS: AlexNet, lower is closer")
    return [
        f"Command: `{command}`. Every arm: {budget['iterations']} iterations, batch {budget['batch_size']}, "
        f"HR crops {budget['GT_size']}, generator nf {budget['nf']} / nb {budget['nb']}, lr_G {budget['lr_G']:g}, "
        f"seed {budget['seed']}, feature loss on {feature}, starting from `{budget['start_model']}`. "
        f"Held-out images: {', '.join(image_names)} (x4).",
        f"Measured on this run ({machine}): training took {minutes:.1f} min summed over the {len(arms)} arms "
        f"(train.log timestamps); s / iteration is the median of the logged windows: {speeds}."
        + _load_sentence(arms),
        f"PSNR and SSIM on RGB with a 4-pixel border cropped, as test.py reports them; {lpips}. "
        f"Gradient energy: mean over the held-out images of mean(dx² + dy²) of the luma (BT.601 Y, as "
        f"PSNR-Y); the HR truth has {hr_energy:.1f}: above it means added texture or noise, below it smoothing.",
    ]


def _load_sentence(arms):
    loads = [result["load_average"] for _, result in arms if result.get("load_average") is not None]
    if not loads:
        return ""
    busy = ""
    if max(loads) > os.cpu_count():
        busy = " (more than the cores: other jobs shared the CPU and slowed training)"
    return f" The 5-minute load average when each arm finished training was {min(loads):.1f} to {max(loads):.1f}{busy}."


def write_report(path, title, table, paragraphs):
    """figures/ablation.md: title, the table, then the measured facts (no dates: they change every run)."""
    text = f"# {title}\n\n{table}\n\n" + "\n\n".join(paragraphs) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, text)
    return text


def plot_crops(panels, image_name, hr_dir, output_path, scale, crop=96, columns=5):
    """HR and each method's result on the most detailed crop of one held-out image, side by side.

    panels: [(title, folder holding <image_name>.png)], drawn after HR.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hr = read_image_uint8(os.path.join(hr_dir, f"{image_name}.png"))
    size = min(crop, hr.shape[0], hr.shape[1]) // scale * scale
    y, x = (value // scale * scale for value in detail_crop_box(hr, size))
    images = [("HR", hr)] + [(title, read_image_uint8(os.path.join(folder, f"{image_name}.png")))
                             for title, folder in panels]
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (title, img) in zip(axes.flat, images):
        axis.imshow(np.ascontiguousarray(img[y:y + size, x:x + size]), interpolation="nearest")
        axis.set_title(title, fontsize=9)
    fig.suptitle(f"{image_name}: {size}x{size} crop at ({x}, {y}), x{scale}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    fig.savefig(output_path, dpi=110)
    plt.close(fig)
