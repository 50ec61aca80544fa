"""Figures of the demo: crops side by side and training curves from train.log."""
import os
import re

import numpy as np

from ..utils.image_io import image_stem, list_images, read_image_uint8

_TRAIN_LINE = re.compile(r"<epoch:\s*\d+, iter:\s*([\d,]+), lr:[^>]*>(.*?) time:")
_LOSS = re.compile(r"(\w+): ([-+\d.eE]+|nan|inf)")
_VAL_LINE = re.compile(r"# validation # iter (\d+): psnr: ([-+\d.eE]+)")


def read_training_log(log_path):
    """Loss averages and validation PSNR per iteration, as train.py logs them."""
    losses, val_psnr = {}, []
    with open(log_path, encoding="utf-8") as handle:
        for line in handle:
            match = _TRAIN_LINE.search(line)
            if match:
                iteration = int(match.group(1).replace(",", ""))
                for name, value in _LOSS.findall(match.group(2)):
                    losses.setdefault(name, []).append((iteration, float(value)))
                continue
            match = _VAL_LINE.search(line)
            if match:
                val_psnr.append((int(match.group(1)), float(match.group(2))))
    return losses, val_psnr


def plot_curves(log_path, output_path, bicubic_psnr=None, title="EDL training on the demo data"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses, val_psnr = read_training_log(log_path)
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, points in sorted(losses.items()):
        if not name.startswith("l_"):  # D_real / D_fake are mean logits, not losses
            continue
        iterations, values = zip(*points)
        ax_loss.plot(iterations, values, label=name)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_title("weighted losses (log scale)")
    ax_loss.legend(fontsize=7)
    if val_psnr:
        iterations, values = zip(*val_psnr)
        ax_val.plot(iterations, values, "o-", label="EDL model")
    if bicubic_psnr is not None:
        ax_val.axhline(bicubic_psnr, color="gray", linestyle="--", label="bicubic")
    ax_val.set_xlabel("iteration")
    ax_val.set_ylabel("PSNR (dB)")
    ax_val.set_title("held-out PSNR (RGB)")
    ax_val.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    fig.savefig(output_path, dpi=110)
    plt.close(fig)


def detail_crop_box(hr, size):
    """The most detailed size x size window (highest gradient energy), on a coarse grid."""
    gray = hr.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    best, box = -1.0, (0, 0)
    step = max(size // 4, 4)
    for y in range(0, hr.shape[0] - size + 1, step):
        for x in range(0, hr.shape[1] - size + 1, step):
            score = float(energy[y:y + size - 1, x:x + size - 1].mean())
            if score > best:
                best, box = score, (y, x)
    return box


def plot_comparison(lr_dir, columns, hr_dir, output_path, scale, crop=96):
    """One row per test image: LR (nearest) | each method in `columns` | HR, same crop.

    columns: list of (title, folder holding <stem>.png results).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lr_paths = list_images(lr_dir)
    titles = ["LR (nearest)"] + [title for title, _ in columns] + ["HR"]
    fig, axes = plt.subplots(len(lr_paths), len(titles), figsize=(2.6 * len(titles), 2.7 * len(lr_paths)),
                             squeeze=False)
    for row, lr_path in enumerate(lr_paths):
        name = image_stem(lr_path)
        hr = read_image_uint8(os.path.join(hr_dir, f"{name}.png"))
        size = min(crop, hr.shape[0], hr.shape[1]) // scale * scale
        y, x = detail_crop_box(hr, size)
        y, x = y // scale * scale, x // scale * scale
        lr = read_image_uint8(lr_path)
        lr_crop = lr[y // scale:(y + size) // scale, x // scale:(x + size) // scale]
        panels = [np.repeat(np.repeat(lr_crop, scale, axis=0), scale, axis=1)]
        panels += [read_image_uint8(os.path.join(folder, f"{name}.png"))[y:y + size, x:x + size] for _, folder in columns]
        panels.append(hr[y:y + size, x:x + size])
        for col, (panel, title) in enumerate(zip(panels, titles)):
            axis = axes[row][col]
            axis.imshow(panel, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=10)
        axes[row][0].set_ylabel(name, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    fig.savefig(output_path, dpi=110)
    plt.close(fig)
