"""Seconds per EDL training iteration, FLOPs per step and achieved GFLOP/s.

Measures, in one run on this machine:
  - the dense float32 matmul throughput (GFLOP/s) as the baseline;
  - for the demo configuration (options/demo/train_demo.yml: nf 32, nb 4, batch 8, GT 64,
    conv2_2 feature loss, PatchGAN nf 32) and the paper's size (nf 64, nb 23, batch 16,
    GT 128, conv5_4 feature loss, PatchGAN nf 64): seconds per iteration of the full EDL
    step (G step + D step), FLOPs per step counted with torch.utils.flop_counter, and the
    achieved GFLOP/s as a share of the matmul baseline;
  - for the demo configuration fed by its real loader (folder data, 2 workers) and noise
    pool: the share of the iteration spent waiting for data and injecting noise.

    python bench/bench_train.py [--iters 5] [--paper_iters 1] [--skip_paper] [--device cpu|cuda] [--json out.json]
    python bench/bench_train.py --official GIT_DIR [--pairs 12] [--configs issue demo paper]

--official runs the official RWSR-EDL training step (SRGANModel of a snapshot of
github.com/House-Leo/RWSR-EDL, loaded by bench/official_peer.py; nothing of it is copied here)
and ours on the same weights and batches, interleaved step by step in one process (the order
alternating), and prints the median of the paired time ratios with their spread. Our step
includes the noise injection (the official one draws noise in its dataset, outside the step).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from skimage import data as skdata
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.data import build_dataloader, build_dataset, build_noise_pool  # noqa: E402
from rwsr.engine.rng import seed_everything  # noqa: E402
from rwsr.models import build_model  # noqa: E402
from rwsr.runtime import Runtime  # noqa: E402
from rwsr.options import validate  # noqa: E402
from rwsr.utils.image_io import write_image  # noqa: E402
from rwsr.utils.imresize import imresize_uint8  # noqa: E402
from rwsr.utils.logger import get_logger  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
CONFIGS = {
    "demo": {"nf": 32, "nb": 4, "batch": 8, "gt": 64, "layer": "conv2_2", "d_nf": 32},
    "paper": {"nf": 64, "nb": 23, "batch": 16, "gt": 128, "layer": "conv5_4", "d_nf": 64},
}


def options(cfg, data_root=None, workers=0):
    train_set = {"dataroot_GT": "unused", "batch_size": cfg["batch"], "GT_size": cfg["gt"], "n_workers": workers}
    if data_root:
        train_set.update(dataroot_GT=os.path.join(data_root, "HR"), dataroot_LQ=os.path.join(data_root, "LR"),
                         aug="noise", noise_data=os.path.join(data_root, "noise"))
    return validate({
        "name": "bench", "model": "srgan", "scale": 4, "datasets": {"train": train_set},
        "network_G": {"which_model_G": "RRDBNet", "nf": cfg["nf"], "nb": cfg["nb"]},
        "network_D": {"which_model_D": "NLayerDiscriminator", "nf": cfg["d_nf"], "nlayer": 3},
        "train": {"niter": 1000, "feature_layer": cfg["layer"], "feature_pretrained": False, "manual_seed": 0},
    })


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device, size=2048, repeats=10):
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def random_batch(cfg, device):
    gt = torch.rand(cfg["batch"], 3, cfg["gt"], cfg["gt"], device=device)
    return torch.nn.functional.avg_pool2d(gt, 4), gt


def compute_step(cfg, device, iters):
    """(seconds per iteration, FLOPs per iteration) of the EDL step on random batches."""
    seed_everything(0)
    model = build_model(options(cfg), Runtime(device), get_logger())
    lq, gt = random_batch(cfg, device)
    with FlopCounterMode(display=False) as counter:
        model.optimize(1, lq, gt)
    flops = counter.get_total_flops()  # this first step also warms up the allocator and kernels
    sync(device)
    start = time.perf_counter()
    for iteration in range(2, 2 + iters):
        model.optimize(iteration, lq, gt)
    sync(device)
    return (time.perf_counter() - start) / iters, flops


def write_bench_data(root, count=16, side=192):
    for index in range(count):
        img = getattr(skdata, PHOTOS[index % len(PHOTOS)])()[..., :3]
        top = (11 * index) % (img.shape[0] - side)
        left = (17 * index) % (img.shape[1] - side)
        hr = np.ascontiguousarray(img[top:top + side, left:left + side])
        write_image(os.path.join(root, "HR", f"{index:03d}.png"), hr)
        write_image(os.path.join(root, "LR", f"{index:03d}.png"), imresize_uint8(hr, 0.25))
    rng = np.random.default_rng(0)
    for index in range(16):
        patch = np.clip(128 + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
        write_image(os.path.join(root, "noise", f"{index:03d}.png"), patch)


def data_share(cfg, device, iters, workers=2):
    """Share of the iteration spent waiting for the loader and injecting noise (real loop)."""
    with tempfile.TemporaryDirectory() as root:
        write_bench_data(root)
        opt = options(cfg, root, workers)
        dataset_opt = opt["datasets"]["train"]
        loader = build_dataloader(build_dataset(dataset_opt, opt, "train"), dataset_opt, "train", seed=0,
                                  pin_memory=device.type == "cuda")
        pool = build_noise_pool(dataset_opt, 4, device, 0, "train")
        model = build_model(opt, Runtime(device), get_logger())
        waits, total, done = 0.0, 0.0, 0
        epoch = 0
        while done < iters + 1:
            loader.sampler.set_epoch(epoch)
            last = time.perf_counter()
            for batch in loader:
                lq = pool.inject(batch["LQ"].to(device, non_blocking=True))
                gt = batch["GT"].to(device, non_blocking=True)
                sync(device)
                ready = time.perf_counter()
                model.optimize(done + 1, lq, gt)
                sync(device)
                if done > 0:  # the first batch includes starting the workers
                    waits += ready - last
                    total += time.perf_counter() - last
                done += 1
                last = time.perf_counter()
                if done > iters:
                    break
            epoch += 1
        return waits / total


PAIRED_CONFIGS = {
    # the configuration of the speed issue: EDL nf 32, nb 4, gc 32, PatchGAN nf 64, batch 4, GT 64, conv5_4
    "issue": {"nf": 32, "nb": 4, "batch": 4, "gt": 64, "layer": "conv5_4", "d_nf": 64},
    "demo": dict(CONFIGS["demo"], layer="conv5_4"),  # the official feature loss has no other layer
    "paper": CONFIGS["paper"],
}


def paired_against_official(git_dir, work_dir, cfg, pairs, device):
    """Median and spread of (our step time / official step time) over interleaved pairs."""
    import statistics

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from official_peer import load_official

    train = {"lr_G": 1e-4, "lr_D": 1e-4, "pixel_weight": 0.01, "feature_weight": 1.0, "gan_weight": 5e-3}
    torch.manual_seed(0)
    peer = load_official(git_dir, work_dir=work_dir, nf=cfg["nf"], nb=cfg["nb"], d_nf=cfg["d_nf"], batch=cfg["batch"],
                         gt_size=cfg["gt"], train=dict(train, feature_criterion="l1"))
    opt = options(cfg)
    opt["train"].update(train)
    ours = build_model(opt, Runtime(device), get_logger())
    peer.copy_weights_to(ours)
    with tempfile.TemporaryDirectory() as root:
        write_bench_data(root, count=4)
        pool = build_noise_pool({"aug": "noise", "noise_data": os.path.join(root, "noise"), "GT_size": cfg["gt"]},
                                4, device, 0, "train")
        generator = torch.Generator().manual_seed(1)
        ratios, times = [], {"ours": [], "official": []}
        for iteration in range(1, pairs + 2):
            gt = torch.rand(cfg["batch"], 3, cfg["gt"], cfg["gt"], generator=generator)
            lq = torch.nn.functional.avg_pool2d(gt, 4)
            order = ("official", "ours") if iteration % 2 else ("ours", "official")
            step = {}
            for who in order:
                start = time.perf_counter()
                if who == "official":
                    peer.step(iteration, lq.clone(), gt.clone())
                else:
                    ours.update_learning_rate(iteration)
                    ours.optimize(iteration, pool.inject(lq.to(device)), gt.to(device))
                    sync(device)
                step[who] = time.perf_counter() - start
            if iteration > 1:  # the first pair warms up both
                ratios.append(step["ours"] / step["official"])
                for who in step:
                    times[who].append(step[who])
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return {"pairs": len(ratios), "ratio_median": statistics.median(ratios), "ratio_q1": quartiles[0],
            "ratio_q3": quartiles[2], "ours_s": statistics.median(times["ours"]),
            "official_s": statistics.median(times["official"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", metavar="GIT_DIR", help="compare with the official step (see above)")
    parser.add_argument("--pairs", type=int, default=12, help="timed step pairs per configuration (--official)")
    parser.add_argument("--configs", nargs="+", default=["issue", "demo"], choices=list(PAIRED_CONFIGS),
                        help="configurations compared with --official (paper: about a minute per step on a CPU)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations of the demo configuration")
    parser.add_argument("--paper_iters", type=int, default=1, help="timed iterations of the paper configuration")
    parser.add_argument("--skip_paper", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    get_logger().disabled = True  # random-VGG warnings are expected here
    if args.official:
        print(f"ours / official step time, {torch.get_num_threads()} threads, interleaved pairs")
        work_dir = tempfile.mkdtemp(prefix="official_rwsr_")  # one extraction: its modules load once
        for name in args.configs:
            result = paired_against_official(args.official, work_dir, PAIRED_CONFIGS[name], args.pairs, device)
            print(f"{name}: ratio {result['ratio_median']:.3f} (quartiles {result['ratio_q1']:.3f}-"
                  f"{result['ratio_q3']:.3f}, {result['pairs']} pairs); ours {result['ours_s']:.3f} s, official "
                  f"{result['official_s']:.3f} s per step")
        return
    results = {"device": str(device), "threads": torch.get_num_threads(), "matmul_gflops": matmul_gflops(device)}
    print(f"device {device}, {results['threads']} threads; dense matmul 2048^2: {results['matmul_gflops']:.1f} GFLOP/s")
    print("config | s/iter | GFLOP/iter | GFLOP/s | share of matmul")
    for name, cfg in CONFIGS.items():
        if name == "paper" and args.skip_paper:
            continue
        seconds, flops = compute_step(cfg, device, args.paper_iters if name == "paper" else args.iters)
        gflops = flops / seconds / 1e9
        results[name] = {"seconds_per_iter": seconds, "gflop_per_iter": flops / 1e9, "gflops": gflops,
                         "matmul_share": gflops / results["matmul_gflops"]}
        print(f"{name} (nf {cfg['nf']}, nb {cfg['nb']}, batch {cfg['batch']}, GT {cfg['gt']}) | {seconds:.3f} | "
              f"{flops / 1e9:.1f} | {gflops:.1f} | {gflops / results['matmul_gflops']:.0%}")
    share = data_share(CONFIGS["demo"], device, args.iters)
    results["demo_data_share"] = share
    print(f"demo: waiting for data + noise injection = {share:.1%} of the iteration (folder data, 2 workers)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
