"""Draw figures/degradations.png: `python figures/degradation_strip.py [--options FILE] [--seed N] [--size S]`.

One HR crop (skimage's astronaut) through eight random draws of the second-order degradation
of an option file (default: options/demo/train_demo_realesrgan.yml, Real-ESRGAN's values),
each LR shown enlarged (nearest neighbour) with what was drawn for it.
"""
import argparse
import os
import sys
from dataclasses import replace

import numpy as np
import torch
from skimage import data as skdata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "codes"))

from rwsr.data.degradations import degradation_settings  # noqa: E402
from rwsr.data.degradations.pipeline import SecondOrderDegradation  # noqa: E402
from rwsr.options import load_options  # noqa: E402
from rwsr.utils.errors import run_cli  # noqa: E402

DEFAULT_OPTIONS = os.path.join(ROOT, "options", "demo", "train_demo_realesrgan.yml")
OUTPUT = os.path.join(ROOT, "figures", "degradations.png")
DRAWS = 8


def describe(plan, index):
    """What was drawn for image `index`: blur kinds, resizes, noise, JPEG qualities, final sinc."""
    def stage(s):
        noise = (f"gauss σ{s.noise_strength[index]:.0f}" if s.gaussian else f"poisson ×{s.noise_strength[index]:.1f}")
        gray = " gray" if s.gray[index] else ""
        return f"{s.resize} {s.resize_factor:.2f}, {noise}{gray}, q{s.jpeg_quality[index]:.0f}"
    blur2 = plan.kinds2[index] if plan.second_blur else "no blur"
    sinc = "sinc" if plan.final_sinc[index] else "no sinc"
    order = "sinc→jpeg" if plan.sinc_before_jpeg else "jpeg→sinc"
    return f"1: {plan.kinds1[index]}; {stage(plan.stage1)}\n2: {blur2}; {stage(plan.stage2)}\n{sinc}, {order}"


@run_cli
def main(argv=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", default=DEFAULT_OPTIONS, help="option file with mode GT (default: the demo's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--size", type=int, default=192, help="HR crop side (a multiple of the scale)")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args(argv)
    opt = load_options(args.options)
    train = next(ds for ds in opt["datasets"].values() if ds["mode"] == "GT")
    settings = replace(degradation_settings(opt, train), gt_size=None)  # the whole LR, not the training crop
    side = args.size
    hr = skdata.astronaut()[20:20 + side, 130:130 + side]
    gt = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1).float().div(255)[None]
    degradation = SecondOrderDegradation(settings, "cpu", args.seed)
    fig, grid = plt.subplots(3, 3, figsize=(9, 11))
    axes = grid.ravel()
    axes[0].imshow(hr)
    axes[0].set_title(f"HR crop {side}×{side}", fontsize=8)
    for draw in range(DRAWS):
        plan = degradation.draw_plan(1, side, side)
        lq, _ = degradation.apply(gt, plan)
        image = (lq[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        axes[draw + 1].imshow(image, interpolation="nearest")
        axes[draw + 1].set_title(describe(plan, 0), fontsize=7, loc="left")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{os.path.relpath(args.options, ROOT)}: eight draws of the second-order degradation\n(seed "
                 f"{args.seed}; LR {side // opt['scale']}×{side // opt['scale']} shown enlarged)", fontsize=10)
    fig.tight_layout(h_pad=2.5)
    fig.savefig(args.output, dpi=130)
    print(f"written: {os.path.relpath(args.output, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
