"""On-the-fly degradations: ours against the same pipeline built from BasicSR's functions.

Measures, in one run on this machine:
  - seconds to degrade a 16 x 3 x 256 x 256 batch with Real-ESRGAN's second-order settings
    (train_realesrnet_x4plus.yml: kernels, blur, resize, noise, JPEG twice, final sinc,
    USM-sharpened GT) by rwsr.data.degradations (kernels drawn and computed batched on the
    device, the real JPEG codec) and by a pipeline composed here of BasicSR's functions as
    Real-ESRGAN calls them (kernels per image in NumPy: random_mixed_kernels /
    circular_lowpass_kernel, filter2D, random_add_*_noise_pt, DiffJPEG(differentiable=False),
    USMSharp), interleaved round by round on random photo crops; the median ratio;
  - the share of a demo training iteration (options/demo/train_demo_realesrgan.yml: degrade
    8 x 96 x 96 crops, cut to 64, queue of 40, then the EDL step of bench_train.py's demo size).

    python bench/bench_degradations.py --basicsr DIR [--rounds 10] [--threads 2] [--json out.json]

DIR holds BasicSR's `basicsr/` package source (for example the files of a snapshot of
github.com/XPixelGroup/BasicSR); its three modules are loaded by path, nothing is copied.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data as skdata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "codes"))

from rwsr.data.degradations import build_degradation  # noqa: E402
from rwsr.options import load_options  # noqa: E402

DEMO_OPTIONS = os.path.join(ROOT, "options", "demo", "train_demo_realesrgan.yml")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def photo_batch(count, side, seed=0):
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        img = getattr(skdata, PHOTOS[index % len(PHOTOS)])()[..., :3]
        top = int(rng.integers(0, img.shape[0] - side + 1))
        left = int(rng.integers(0, img.shape[1] - side + 1))
        crops.append(img[top:top + side, left:left + side])
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255).contiguous()


class BasicsrPipeline:
    """Real-ESRGAN's dataset kernels + RealESRNetModel.feed_data, composed of BasicSR's functions."""

    def __init__(self, folder, opt, dataset_opt):
        package = os.path.join(folder, "basicsr")
        self.deg = load_module(os.path.join(package, "data", "degradations.py"), "basicsr_degradations")
        process = load_module(os.path.join(package, "utils", "img_process_util.py"), "basicsr_img_process")
        jpeg = load_module(os.path.join(package, "utils", "diffjpeg.py"), "basicsr_diffjpeg")
        self.filter2d, self.jpeger, self.usm = process.filter2D, jpeg.DiffJPEG(differentiable=False), process.USMSharp()
        self.opt, self.ds, self.scale = opt["degradation"], dataset_opt, opt["scale"]

    def _kernel(self, suffix):
        ds, size = self.ds, random.choice(range(7, 22, 2))
        if np.random.uniform() < ds[f"sinc_prob{suffix}"]:
            omega = np.random.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi)
            kernel = self.deg.circular_lowpass_kernel(omega, size, pad_to=False)
        else:
            sigma = ds[f"blur_sigma{suffix}"]
            kernel = self.deg.random_mixed_kernels(ds[f"kernel_list{suffix}"], ds[f"kernel_prob{suffix}"], size, sigma,
                                                   sigma, [-math.pi, math.pi], ds[f"betag_range{suffix}"],
                                                   ds[f"betap_range{suffix}"], noise_range=None)
        pad = (21 - size) // 2
        return np.pad(kernel, ((pad, pad), (pad, pad)))

    def _final_sinc(self):
        if np.random.uniform() < self.ds["final_sinc_prob"]:
            size = random.choice(range(7, 22, 2))
            return self.deg.circular_lowpass_kernel(np.random.uniform(math.pi / 3, math.pi), size, pad_to=21)
        pulse = np.zeros((21, 21))
        pulse[10, 10] = 1
        return pulse

    def _stage(self, out, suffix, size=None):
        o = self.opt
        kind = random.choices(["up", "down", "keep"], o[f"resize_prob{suffix}"])[0]
        low, high = o[f"resize_range{suffix}"]
        factor = np.random.uniform(1, high) if kind == "up" else np.random.uniform(low, 1) if kind == "down" else 1
        mode = random.choice(["area", "bilinear", "bicubic"])
        if size is None:
            out = F.interpolate(out, scale_factor=factor, mode=mode)
        else:
            out = F.interpolate(out, size=(int(size[0] * factor), int(size[1] * factor)), mode=mode)
        gray = o[f"gray_noise_prob{suffix}"]
        if np.random.uniform() < o[f"gaussian_noise_prob{suffix}"]:
            out = self.deg.random_add_gaussian_noise_pt(out, sigma_range=o[f"noise_range{suffix}"], clip=True,
                                                        rounds=False, gray_prob=gray)
        else:
            out = self.deg.random_add_poisson_noise_pt(out, scale_range=o[f"poisson_scale_range{suffix}"],
                                                       gray_prob=gray, clip=True, rounds=False)
        return out

    def _jpeg(self, out, suffix):
        quality = out.new_zeros(out.size(0)).uniform_(*self.opt[f"jpeg_range{suffix}"])
        return self.jpeger(torch.clamp(out, 0, 1), quality=quality).contiguous()  # its filter2D needs .view

    @torch.no_grad()
    def __call__(self, gt):
        count, height, width = gt.shape[0], gt.shape[2], gt.shape[3]
        kernel1 = torch.FloatTensor(np.stack([self._kernel("") for _ in range(count)]))
        kernel2 = torch.FloatTensor(np.stack([self._kernel("2") for _ in range(count)]))
        sinc = torch.FloatTensor(np.stack([self._final_sinc() for _ in range(count)]))
        target = self.usm(gt)
        out = self._jpeg(self._stage(self.filter2d(gt, kernel1), ""), "")
        if np.random.uniform() < self.opt["second_blur_prob"]:
            out = self.filter2d(out, kernel2)
        out = self._stage(out, "2", size=(height / self.scale, width / self.scale))
        lr_size = (height // self.scale, width // self.scale)
        mode = random.choice(["area", "bilinear", "bicubic"])
        if np.random.uniform() < 0.5:
            out = self._jpeg(self.filter2d(F.interpolate(out, size=lr_size, mode=mode), sinc), "2")
        else:
            out = self.filter2d(F.interpolate(self._jpeg(out, "2"), size=lr_size, mode=mode), sinc)
        return torch.clamp((out * 255.0).round(), 0, 255) / 255.0, target


def paper_options():
    """The demo file with Real-ESRGAN's full sizes: 256 x 256 input, no final crop, no queue."""
    return load_options(DEMO_OPTIONS, ["gt_size=null", "queue_size=0", "datasets.train.GT_size=256"])


def compare(basicsr_dir, rounds):
    opt = paper_options()
    ours = build_degradation(opt, opt["datasets"]["train"], "cpu", seed=0)
    theirs = BasicsrPipeline(basicsr_dir, opt, opt["datasets"]["train"]) if basicsr_dir else None
    gt = photo_batch(16, 256)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    ours(gt)  # warm-up (allocator, codec, blur matrices)
    if theirs is not None:
        theirs(gt)
    times = {"ours": [], "basicsr": []}
    for index in range(rounds):
        order = [("ours", ours), ("basicsr", theirs)]
        for name, pipeline in order if index % 2 == 0 else order[::-1]:
            if pipeline is None:
                continue
            start = time.perf_counter()
            pipeline(gt)
            times[name].append(time.perf_counter() - start)
    return times


def demo_share(iters):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_train import CONFIGS, compute_step
    opt = load_options(DEMO_OPTIONS)
    degradation = build_degradation(opt, opt["datasets"]["train"], "cpu", seed=0)
    gt = photo_batch(8, opt["datasets"]["train"]["GT_size"])
    for _ in range(6):  # fill the queue of 40 (5 batches) so that swaps are measured too
        degradation(gt)
    start = time.perf_counter()
    for _ in range(iters):
        degradation(gt)
    degrade = (time.perf_counter() - start) / iters
    step, _ = compute_step(CONFIGS["demo"], torch.device("cpu"), iters)
    return degrade, step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basicsr", help="folder holding BasicSR's basicsr/ package source (for the comparison)")
    parser.add_argument("--rounds", type=int, default=10, help="batches degraded by each pipeline")
    parser.add_argument("--demo_iters", type=int, default=5, help="iterations of the demo share")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.basicsr:
        print("no --basicsr folder: measuring ours only (see --help)")
    times = compare(args.basicsr, args.rounds)
    result = {"threads": args.threads, "rounds": args.rounds, "ours_s": statistics.median(times["ours"])}
    print(f"16 x 3 x 256 x 256, median of {args.rounds}: ours {result['ours_s']:.3f} s", end="")
    if times["basicsr"]:
        result["basicsr_s"] = statistics.median(times["basicsr"])
        result["ratio_ours_to_basicsr"] = result["ours_s"] / result["basicsr_s"]
        result["ratio_of_totals"] = sum(times["ours"]) / sum(times["basicsr"])
        print(f", BasicSR functions {result['basicsr_s']:.3f} s; ours / BasicSR {result['ratio_ours_to_basicsr']:.2f} "
              f"(medians), {result['ratio_of_totals']:.2f} (totals)")
    else:
        print()
    degrade, step = demo_share(args.demo_iters)
    result.update(demo_degrade_s=degrade, demo_step_s=step, demo_share=degrade / (degrade + step))
    print(f"demo iteration: degradation + queue {degrade:.3f} s, EDL step {step:.3f} s: the degradation is "
          f"{100 * result['demo_share']:.0f}% of the iteration")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
