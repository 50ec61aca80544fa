"""Inference speed and peak memory: plain fp32 forward vs tiled vs the fast paths, in one run.

Every configuration runs in its own process, so its peak resident memory
(VmHWM from /proc/self/status) is its own. Throughput is output megapixels per second
(best of --repeats after a warm-up run, which also absorbs torch.compile's
compile time; that is reported separately). Each output is compared with the
plain fp32 forward in 8-bit levels.

    python bench/bench_infer.py                 # nf 32 / nb 4 EDL generator, random weights
    python bench/bench_infer.py --model G.pth   # your checkpoint
    python bench/bench_infer.py --quick         # smaller sizes, a smoke run
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))


# ---------------------------------------------------------------- worker (one configuration)
def _lr_image(size):
    """A real photo (astronaut) resized to size x size LR pixels."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def _peak_mb():
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's at fork)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _build_runner(config, model_path, onnx_path):
    """A function LR tensor -> SR tensor for the configuration."""
    import torch

    from rwsr.archs import generator_outputs
    from rwsr.inference import OnnxForward, SRInference
    from rwsr.inference.model_loading import load_generator

    tiling = dict(tile=config.get("tile", 0), tile_pad=config.get("tile_pad", 16), tile_batch=1)
    if config["backend"] == "onnx":
        inference = SRInference(OnnxForward(onnx_path, threads=config.get("threads") or 0), config["scale"],
                                **tiling)
        return inference.run
    net, _, _ = load_generator(model_path, logger=_quiet_logger())
    if config["backend"] == "plain":
        def plain(x):
            with torch.no_grad():
                return generator_outputs(net(x))[0].clamp(0, 1)
        return plain
    inference = SRInference(net, config["scale"], device="cpu", channels_last=config.get("channels_last", False),
                            compile=config.get("compile", False), **tiling)
    return inference.run


def _quiet_logger():
    import logging

    logger = logging.getLogger("bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def run_worker(config, model_path, onnx_path, out_npy):
    import torch

    from rwsr.inference import image_to_tensor, tensor_to_uint8

    if config.get("threads"):
        torch.set_num_threads(config["threads"])
    run = _build_runner(config, model_path, onnx_path)
    x = image_to_tensor(_lr_image(config["size"]))
    tile, pad = config.get("tile", 0), config.get("tile_pad", 16)
    warm = x[..., :tile + 2 * pad, :tile + 2 * pad] if tile else x  # same window shape, less work
    start = time.perf_counter()
    run(warm)  # warm-up (and compilation)
    warmup = time.perf_counter() - start
    baseline_mb = _peak_mb()
    times, cpu_times = [], []
    for _ in range(config["repeats"]):
        start, cpu_start = time.perf_counter(), time.process_time()
        y = run(x)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    if out_npy:
        np.save(out_npy, tensor_to_uint8(y))
    # One thread: CPU time is the compute time even when other processes share the machine.
    best = min(cpu_times) if config.get("threads") == 1 else min(times)
    megapixels = y.shape[-1] * y.shape[-2] / 1e6
    print(json.dumps({"seconds": best, "warmup_s": warmup, "mp_per_s": megapixels / best,
                      "peak_mb": _peak_mb(), "baseline_mb": baseline_mb}))


# ---------------------------------------------------------------- parent
def _spawn(config, args, model_path, onnx_path, out_npy=None):
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(config), "--model", model_path,
               "--onnx", onnx_path or "", "--out_npy", out_npy or ""]
    env = dict(os.environ, **config.get("env", {}))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"configuration {config} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _prepare_model(args, folder):
    import torch

    from rwsr.archs import build_generator
    from rwsr.archs.network_files import save_network
    from rwsr.inference.model_loading import load_generator
    from rwsr.inference.onnx_export import export_onnx

    if args.model:
        model_path = args.model
    else:
        torch.manual_seed(0)
        options = {"which_model_G": "RRDBNet", "nf": args.nf, "nb": args.nb, "gc": 32, "upscale": 4}
        model_path = os.path.join(folder, "G.pth")
        save_network(build_generator(options), model_path, metadata=options)
    net, options, _ = load_generator(model_path, logger=_quiet_logger())
    onnx_path = os.path.join(folder, "G.onnx")
    export_onnx(net, onnx_path, metadata={"upscale": options["upscale"]})
    return model_path, onnx_path, options


def _level_difference(reference, path):
    if reference is None or not os.path.exists(path):
        return None
    return int(np.abs(np.load(path).astype(np.int16) - reference.astype(np.int16)).max())


def _row(name, size, result, plain, level):
    speedup = result["mp_per_s"] / plain["mp_per_s"] if plain else 1.0
    return (f"| {name} | {size}x{size} | {result['mp_per_s']:.3f} | {speedup:.2f}x | {result['peak_mb']:.0f} | "
            f"{result['warmup_s']:.1f} | {'-' if level is None else level} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--out_npy", help=argparse.SUPPRESS)
    parser.add_argument("--model", help="generator checkpoint (default: random nf/nb EDL generator)")
    parser.add_argument("--nf", type=int, default=32)
    parser.add_argument("--nb", type=int, default=4)
    parser.add_argument("--size", type=int, default=160, help="LR size for the speed comparison")
    parser.add_argument("--tile", type=int, default=200, help="LR tile size of the tiled configurations")
    parser.add_argument("--tile_pad", type=int, default=16)
    parser.add_argument("--big", type=int, nargs="+", default=[250, 500, 1000],
                        help="LR sizes for the memory-flatness run of the fastest tiled configuration")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per configuration (0: all); 1 measures CPU time, robust on a busy machine")
    parser.add_argument("--no_compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    if args.worker:
        run_worker(json.loads(args.worker), args.model, args.onnx, args.out_npy)
        return 0
    if args.quick:
        args.size, args.tile, args.big, args.repeats, args.no_compile = 48, 32, [48, 96], 1, True
    with tempfile.TemporaryDirectory() as folder:
        model_path, onnx_path, options = _prepare_model(args, folder)
        clock = "CPU time (1 thread)" if args.threads == 1 else f"wall time ({args.threads or os.cpu_count()} threads)"
        print(f"model: {options['which_model_G']} nf {options['nf']} nb {options['nb']} x{options['upscale']}, "
              f"CPUs: {os.cpu_count()}, timing: {clock}, load average at start: {os.getloadavg()[0]:.2f}\n")
        scale, half_tile = options["upscale"], max(16, args.size // 2)
        configs = [
            ("plain fp32 forward, whole image", {"backend": "plain"}),
            ("SRInference (inference_mode), whole image", {"backend": "torch"}),
            ("+ channels_last, whole image", {"backend": "torch", "channels_last": True}),
            ("+ OMP_WAIT_POLICY=PASSIVE, whole image", {"backend": "torch", "env": {"OMP_WAIT_POLICY": "PASSIVE"}}),
            (f"tiled, tile {half_tile} pad {args.tile_pad}", {"backend": "torch", "tile": half_tile}),
            ("onnxruntime, whole image", {"backend": "onnx"}),
            (f"onnxruntime, tiled {half_tile}", {"backend": "onnx", "tile": half_tile}),
        ]
        if not args.no_compile:
            configs.append(("torch.compile (freezing), whole image", {"backend": "torch", "compile": True}))
        print("| configuration | LR size | output MP/s | vs plain | peak RSS MB | warm-up s | max 8-bit diff |")
        print("|---|---|---|---|---|---|---|")
        plain, reference, results = None, None, {}
        for name, config in configs:
            config = dict(config, size=args.size, scale=scale, repeats=args.repeats, tile_pad=args.tile_pad,
                          threads=args.threads)
            if args.threads:
                config["env"] = dict(config.get("env", {}), OMP_NUM_THREADS=str(args.threads))
            out_npy = os.path.join(folder, "out.npy")
            result = _spawn(config, args, model_path, onnx_path, out_npy)
            if plain is None:
                plain, reference = result, np.load(out_npy)
            level = _level_difference(reference, out_npy)
            results[name] = (config, result)
            print(_row(name, args.size, result, plain, level), flush=True)
        fastest = max(results, key=lambda key: results[key][1]["mp_per_s"])
        ratio = results[fastest][1]["mp_per_s"] / plain["mp_per_s"]
        print(f"\nfastest: {fastest}: {ratio:.2f}x the plain fp32 forward (target 1.5x)\n")
        big_config = dict(results[fastest][0], tile=args.tile)
        print(f"memory as the image grows, {fastest.split(',')[0]} tiled (tile {args.tile}, pad {args.tile_pad}):\n")
        print("| configuration | LR size | output MP/s | vs plain | peak RSS MB | warm-up s | max 8-bit diff |")
        print("|---|---|---|---|---|---|---|")
        for size in args.big:
            config = dict(big_config, size=size, repeats=1)
            result = _spawn(config, args, model_path, onnx_path)
            print(_row(f"{fastest.split(',')[0]}, tile {args.tile}", size, result, plain, None), flush=True)
        for size in [s for s in args.big if s <= 512] or [args.size]:
            config = {"backend": "plain", "size": size, "scale": scale, "repeats": 1, "threads": args.threads}
            result = _spawn(config, args, model_path, onnx_path)
            print(_row("plain fp32 forward, whole image", size, result, plain, None), flush=True)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
