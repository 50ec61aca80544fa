"""The GPU check: training speed with and without AMP and channels_last, and what they change.

For a user with a CUDA GPU; finishes in a few minutes. For the demo and the paper configuration
(EDL generator, PatchGAN, VGG19 conv5_4 features, RaGAN, real-noise injection on the GPU) it
prints seconds per iteration in fp32, fp32 + channels_last, fp16 and bf16 autocast (+ channels_last),
and, for each, how far one training step moves the weights away from the fp32 step (max abs
difference of G's parameters after the same step from the same weights and batch). It also
checks that the noise pool injects on the GPU and that the data of a step never leaves it.

With two or more GPUs it also trains the demo configuration with train.py for --multi_iters
iterations on one GPU (gpu_ids: [0]) and on two (gpu_ids: [0, 1]: train.py starts two DDP
processes), with the same total batch, and prints the seconds per iteration of both (the mean of
the last print_freq window of each log), their ratio, and whether the two processes held identical
weights at the checkpoint.

    python bench/bench_gpu.py [--iters 10] [--skip_paper] [--multi_iters 60] [--json out.json]
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.data.noise_pool import NoisePool  # noqa: E402
from rwsr.engine.rng import seed_everything  # noqa: E402
from rwsr.models import build_model  # noqa: E402
from rwsr.options import validate  # noqa: E402
from rwsr.runtime import Runtime  # noqa: E402
from rwsr.utils.image_io import write_image  # noqa: E402
from rwsr.utils.logger import get_logger  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    "demo": {"nf": 32, "nb": 4, "batch": 8, "gt": 64, "d_nf": 32},
    "paper": {"nf": 64, "nb": 23, "batch": 16, "gt": 128, "d_nf": 64},
}
MODES = {"fp32": (None, False), "fp32+channels_last": (None, True), "fp16": ("fp16", False),
         "fp16+channels_last": ("fp16", True), "bf16+channels_last": ("bf16", True)}


def options(cfg, amp, channels_last):
    return validate({
        "name": "gpu", "model": "srgan", "scale": 4, "device": "cuda",
        "datasets": {"train": {"dataroot_GT": "unused", "batch_size": cfg["batch"], "GT_size": cfg["gt"]}},
        "network_G": {"which_model_G": "RRDBNet", "nf": cfg["nf"], "nb": cfg["nb"]},
        "network_D": {"which_model_D": "NLayerDiscriminator", "nf": cfg["d_nf"], "nlayer": 3},
        "train": {"niter": 1000, "feature_layer": "conv5_4", "feature_pretrained": False, "manual_seed": 0,
                  "amp": amp, "channels_last": channels_last},
    })


def noise_pool(device, crop):
    folder = tempfile.mkdtemp(prefix="rwsr_gpu_noise_")
    rng = np.random.default_rng(0)
    for index in range(8):
        patch = np.clip(128 + rng.normal(0, 8, (crop * 2, crop * 2, 3)), 0, 255).astype(np.uint8)
        write_image(os.path.join(folder, f"{index}.png"), patch)
    return NoisePool(folder, device, seed=0, crop_size=crop)


def batch(cfg, device, generator):
    gt = torch.rand(cfg["batch"], 3, cfg["gt"], cfg["gt"], device=device, generator=generator)
    return torch.nn.functional.avg_pool2d(gt, 4), gt


def seconds_per_iteration(model, pool, cfg, device, iters):
    generator = torch.Generator(device=device).manual_seed(1)
    for iteration in (1, 2):  # warm-up: kernels, allocator, cudnn autotuning
        lq, gt = batch(cfg, device, generator)
        model.optimize(iteration, pool.inject(lq), gt)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for iteration in range(3, 3 + iters):
        lq, gt = batch(cfg, device, generator)
        model.optimize(iteration, pool.inject(lq), gt)
    torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / iters


def one_step_difference(reference, model, cfg, device):
    """Max abs difference of G's parameters after one step from the same weights and batch."""
    lq, gt = batch(cfg, device, torch.Generator(device=device).manual_seed(7))
    for net in (reference, model):
        net.optimize(1, lq, gt)
    return max(float((a.float() - b.float()).abs().max())
               for a, b in zip(reference.net_g.parameters(), model.net_g.parameters()))


def check_config(name, cfg, device, iters, results):
    runtime = Runtime(device)
    pool = noise_pool(device, cfg["gt"] // 4)
    lq, _ = batch(cfg, device, torch.Generator(device=device).manual_seed(0))
    injected = pool.inject(lq)
    assert injected.device == device and pool.storage_device.type == "cuda", "noise pool is not on the GPU"
    seed_everything(0)
    reference = build_model(options(cfg, None, False), runtime, get_logger())
    start_g = copy.deepcopy(reference.net_g.state_dict())
    start_d = copy.deepcopy(reference.net_d.state_dict()) if reference.net_d is not None else None
    print(f"\n{name} (nf {cfg['nf']}, nb {cfg['nb']}, batch {cfg['batch']}, GT {cfg['gt']}); noise injected on {device}")
    print("mode | s/iter | speed-up vs fp32 | max |dG| after one step vs fp32")
    rows = {}
    for mode, (amp, channels_last) in MODES.items():
        if amp == "bf16" and not torch.cuda.is_bf16_supported():
            print(f"{mode} | skipped: no bf16 on this GPU")
            continue
        seed_everything(0)
        model = build_model(options(cfg, amp, channels_last), runtime, get_logger())
        model.net_g.load_state_dict(start_g)
        if start_d is not None:
            model.net_d.load_state_dict(start_d)
        fresh = copy.deepcopy(reference)
        difference = one_step_difference(fresh, model, cfg, device)
        seconds = seconds_per_iteration(model, pool, cfg, device, iters)
        rows[mode] = {"seconds_per_iter": seconds, "one_step_max_abs_diff": difference}
        base = rows["fp32"]["seconds_per_iter"]
        print(f"{mode} | {seconds:.4f} | {base / seconds:.2f}x | {difference:.2e}")
        del model, fresh
        torch.cuda.empty_cache()
    results[name] = rows


def write_demo_data(root, count=32, size=128):
    """Random HR/LR pairs and noise patches for a short speed run (speed does not depend on content)."""
    rng = np.random.default_rng(0)
    for index in range(count):
        hr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        write_image(os.path.join(root, "HR", f"{index:03d}.png"), hr)
        write_image(os.path.join(root, "LR", f"{index:03d}.png"), hr[::4, ::4])
    return noise_pool_folder(root)


def noise_pool_folder(root):
    folder = os.path.join(root, "noise")
    rng = np.random.default_rng(1)
    for index in range(8):
        write_image(os.path.join(folder, f"{index}.png"),
                    np.clip(128 + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8))
    return folder


def train_run(root, name, gpu_ids, iters):
    """(seconds per iteration of the last log window, train.log text, exit code) of one train.py run."""
    cfg = CONFIGS["demo"]
    print_freq = max(iters // 3, 1)
    overrides = [f"name={name}", f"gpu_ids={gpu_ids}", "device=cuda", f"train.niter={iters}",
                 f"logger.print_freq={print_freq}", f"logger.save_checkpoint_freq={iters}", "train.val_freq=0",
                 f"datasets.train.batch_size={cfg['batch']}", f"datasets.train.GT_size={cfg['gt']}"]
    result = subprocess.run([sys.executable, os.path.join(REPO, "codes", "train.py"), "-opt",
                             os.path.join(root, "multi.yml"), "--set", *overrides],
                            capture_output=True, text=True, cwd=root)
    log_path = os.path.join(root, "experiments", name, "train.log")
    log = open(log_path, encoding="utf-8").read() if os.path.exists(log_path) else result.stderr[-2000:]
    times = re.findall(r"time: ([\d.]+)s", log)
    return (float(times[-1]) if times else None), log, result.returncode


def check_multi_gpu(iters, results):
    import yaml
    root = tempfile.mkdtemp(prefix="rwsr_multi_gpu_")
    noise = write_demo_data(root)
    cfg = CONFIGS["demo"]
    opt = {"name": "multi", "model": "srgan", "scale": 4, "use_tb_logger": False,
           "datasets": {"train": {"name": "random", "mode": "LQGT", "aug": "noise", "noise_data": noise,
                                  "dataroot_GT": os.path.join(root, "HR"), "dataroot_LQ": os.path.join(root, "LR"),
                                  "n_workers": 2}},
           "network_G": {"which_model_G": "RRDBNet", "nf": cfg["nf"], "nb": cfg["nb"]},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": cfg["d_nf"], "nlayer": 3},
           "path": {"experiments_root": os.path.join(root, "experiments"), "tb_logger_root": os.path.join(root, "tb")},
           "train": {"niter": iters, "feature_pretrained": False, "manual_seed": 0}}
    with open(os.path.join(root, "multi.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(opt, handle)
    print(f"\ntrain.py, demo configuration, total batch {cfg['batch']}, {iters} iterations")
    one, _, code_one = train_run(root, "one_gpu", "[0]", iters)
    two, log_two, code_two = train_run(root, "two_gpus", "[0,1]", iters)
    identical = "weights identical on all 2 processes" in log_two
    row = {"one_gpu_seconds_per_iter": one, "two_gpus_seconds_per_iter": two, "exit_codes": [code_one, code_two],
           "two_processes_identical": identical}
    print(f"1 GPU: {one} s/iter (exit {code_one}); 2 GPUs: {two} s/iter (exit {code_two}); "
          f"speed-up {one / two:.2f}x; weights identical on both processes: {identical}"
          if one and two else f"a run failed: {row}\n{log_two[-2000:]}")
    results["two_gpus"] = row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per mode")
    parser.add_argument("--skip_paper", action="store_true", help="only the demo configuration")
    parser.add_argument("--multi_iters", type=int, default=60, help="iterations of the 1- and 2-GPU train.py runs")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (this script is for GPU machines; bench/bench_train.py measures "
              "the CPU)")
        return 0
    device = torch.device("cuda", 0)
    get_logger().disabled = True  # random-VGG warnings are expected here
    torch.backends.cudnn.benchmark = True
    results = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__}
    print(f"{results['device']}, torch {results['torch']}")
    for name, cfg in CONFIGS.items():
        if name == "paper" and args.skip_paper:
            continue
        check_config(name, cfg, device, args.iters, results)
    if torch.cuda.device_count() >= 2:
        check_multi_gpu(args.multi_iters, results)
    else:
        print("\none GPU: the 2-GPU train.py run is skipped")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
