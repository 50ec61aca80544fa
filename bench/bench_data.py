"""How fast the training data arrives, against how fast a training step consumes it.

Measures, in one run on this machine:
  - batches/s of the training loader (GT_size 128, batch 16) from a folder and
    from an LMDB, with 0 and 2 worker processes;
  - the cost of NoisePool.inject per batch (CPU, and CUDA when present);
  - the time of one training step of the demo generator (EDL RRDBNet, nf 32,
    nb 4, GT 64, batch 8: forward + L1 + backward) as the baseline, and each
    loader's batches/s as a multiple of the steps/s it has to feed.

    python bench/bench_data.py [--images 24] [--batches 20] [--threads N] [--json out.json]
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.archs import build_generator, generator_outputs  # noqa: E402
from rwsr.data import build_dataloader, build_dataset  # noqa: E402
from rwsr.data.noise_pool import NoisePool  # noqa: E402
from rwsr.prep.lmdb_writer import LmdbImageWriter  # noqa: E402
from rwsr.utils.image_io import encode_image, write_image  # noqa: E402
from rwsr.utils.imresize import imresize_uint8  # noqa: E402

SCALE = 4
HR_SIDE = 480  # BasicSR-style sub-images; full 2K photos cost a PNG decode of ~4 MP per sample
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def _rgb(name):
    img = getattr(skdata, name)()
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img[:, :, :3]


def _hr_tiles(count):
    """count HR_SIDE x HR_SIDE tiles cut from the skimage photos (upscaled when too small)."""
    tiles = []
    for number in range(count):
        img = _rgb(PHOTOS[number % len(PHOTOS)])
        if min(img.shape[:2]) < HR_SIDE:
            img = imresize_uint8(img, HR_SIDE / min(img.shape[:2]) + 0.01)
        rng = np.random.default_rng(number)
        top = int(rng.integers(0, img.shape[0] - HR_SIDE + 1))
        left = int(rng.integers(0, img.shape[1] - HR_SIDE + 1))
        tile = img[top:top + HR_SIDE, left:left + HR_SIDE]
        tiles.append(np.ascontiguousarray(tile[:, ::-1] if number % 2 else tile))
    return tiles


def make_datasets(root, count):
    """HR/LR folders and LMDBs under root."""
    hr_lmdb, lr_lmdb = LmdbImageWriter(os.path.join(root, "HR.lmdb")), LmdbImageWriter(os.path.join(root, "LR.lmdb"))
    for number, hr in enumerate(_hr_tiles(count)):
        lr = imresize_uint8(hr, 1 / SCALE)
        key = f"{number:04d}"
        write_image(os.path.join(root, "HR", key + ".png"), hr)
        write_image(os.path.join(root, "LR", key + ".png"), lr)
        hr_lmdb.put(key, encode_image(hr), hr.shape)
        lr_lmdb.put(key, encode_image(lr), lr.shape)
    hr_lmdb.close()
    lr_lmdb.close()


def make_noise_pool(root, count=200, side=256):
    folder = os.path.join(root, "noise")
    rng = np.random.default_rng(0)
    for number in range(count):
        patch = np.clip(rng.normal(128, 6, (side, side, 3)), 0, 255).astype(np.uint8)
        write_image(os.path.join(folder, f"{number:04d}.png"), patch)
    return folder


def _dataset_opt(root, source, workers, gt_size, batch):
    suffix = ".lmdb" if source == "lmdb" else ""
    return dict(name="train", mode="LQGT", dataroot_GT=os.path.join(root, "HR" + suffix),
                dataroot_LQ=os.path.join(root, "LR" + suffix), dataroot_LR=None, train_list=None, aug=None,
                noise_data=None, use_shuffle=True, n_workers=workers, batch_size=batch, GT_size=gt_size,
                use_flip=True, use_rot=True, color="RGB")


def loader_rate(root, source, workers, gt_size, batch, batches):
    """Batches/s after the first batch (which includes starting the workers)."""
    dataset_opt = _dataset_opt(root, source, workers, gt_size, batch)
    opt = {"scale": SCALE, "datasets": {"train": dataset_opt}, "train": {"manual_seed": 0}}
    loader = build_dataloader(build_dataset(dataset_opt, opt, "train"), dataset_opt, "train", seed=0)
    done, epoch, start = -1, 0, None
    while done < batches:
        loader.sampler.set_epoch(epoch)
        for _ in loader:
            done += 1
            if done == 0:
                start = time.perf_counter()
            if done == batches:
                break
        epoch += 1
    rate = batches / (time.perf_counter() - start)
    del loader
    return rate


def _timed(fn, repeats, sync):
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def _sync_for(device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def noise_cost_ms(folder, device, repeats=50):
    pool = NoisePool(folder, device, seed=0, crop_size=128 // SCALE)
    batch = torch.full((16, 3, 128 // SCALE, 128 // SCALE), 0.5, device=device)
    return 1000 * _timed(lambda: pool.inject(batch), repeats, _sync_for(device))


def train_step_seconds(device, repeats):
    """Demo generator: forward + L1 + backward on batch 8, GT 64."""
    net = build_generator({"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 32, "nb": 4, "gc": 32,
                           "upscale": SCALE}).to(device)
    lr = torch.rand(8, 3, 64 // SCALE, 64 // SCALE, device=device)
    hr = torch.rand(8, 3, 64, 64, device=device)

    def step():
        net.zero_grad(set_to_none=True)
        loss = torch.nn.functional.l1_loss(generator_outputs(net(lr))[0], hr)
        loss.backward()

    return _timed(step, repeats, _sync_for(device))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24, help="HR images of 480x480 in the benchmark set")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per loader")
    parser.add_argument("--threads", type=int, help="torch threads of the main process (default: torch's)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as root:
        make_datasets(root, args.images)
        noise_folder = make_noise_pool(root)
        step = train_step_seconds(torch.device("cpu"), repeats=10)
        results["demo_step_s"] = step
        print(f"demo training step (EDL nf32 nb4, GT 64, batch 8, CPU): {1000 * step:.1f} ms = {1 / step:.2f} steps/s")
        print(f"\n{'loader (GT 128, batch 16)':<32}{'batches/s':>10}{'x steps/s':>11}")
        results["loaders"] = []
        for source in ("folder", "lmdb"):
            for workers in (0, 2):
                rate = loader_rate(root, source, workers, 128, 16, args.batches)
                results["loaders"].append({"source": source, "workers": workers, "gt_size": 128, "batch": 16,
                                           "batches_per_s": rate, "ratio_to_step": rate * step})
                print(f"{source + ', ' + str(workers) + ' workers':<32}{rate:>10.2f}{rate * step:>11.1f}")
        demo_rate = loader_rate(root, "folder", 2, 64, 8, args.batches)
        results["demo_loader"] = {"batches_per_s": demo_rate, "ratio_to_step": demo_rate * step}
        print(f"{'folder, 2 workers (GT 64, b 8)':<32}{demo_rate:>10.2f}{demo_rate * step:>11.1f}")
        results["noise_ms_cpu"] = noise_cost_ms(noise_folder, torch.device("cpu"))
        print(f"\nnoise injection, batch 16 x 3 x 32 x 32, pool 200 x 256^2: {results['noise_ms_cpu']:.3f} ms (CPU)")
        if torch.cuda.is_available():
            results["noise_ms_cuda"] = noise_cost_ms(noise_folder, torch.device("cuda"))
            print(f"noise injection on CUDA: {results['noise_ms_cuda']:.3f} ms")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
