"""Inference speed and peak memory: plain fp32 forward vs tiled vs the fast paths, in one run.

Four parts:
1. every configuration in its own process, so its peak resident memory (VmHWM from
   /proc/self/status) is its own: throughput in output megapixels per second (best of
   --repeats after a warm-up run, which also absorbs compilation; reported separately),
   8-bit difference from the plain fp32 forward;
2. paired speed: the plain forward and the fast backends in ONE process, taking turns round
   after round, so each round's ratio sees the same machine load (median and range reported);
3. OpenVINO start-up: ONNX export, compilation with an empty and with a filled model cache
   (two processes), and one dynamic-shape model against one fixed-shape model per image size;
4. memory as the image grows, tiled and whole, with test.py's default CPU backend.

    python bench/bench_infer.py                 # nf 32 / nb 4 EDL generator, random weights
    python bench/bench_infer.py --model G.pth   # your checkpoint
    python bench/bench_infer.py --quick         # smaller sizes, a smoke run
"""
import argparse
import json
import os
import resource
import statistics
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
    from rwsr.inference.openvino_backend import OpenVinoForward

    threads = config.get("threads") or 0
    tiling = dict(tile=config.get("tile", 0), tile_pad=config.get("tile_pad", 16), tile_batch=1)
    if config["backend"] == "onnx":
        return SRInference(OnnxForward(onnx_path, threads=threads), config["scale"], **tiling).run
    if config["backend"] == "openvino":
        forward = OpenVinoForward(onnx_path, half=config.get("half", False), threads=threads, cache_dir="")
        return SRInference(forward, config["scale"], **tiling).run
    net = load_generator(model_path, logger=_quiet_logger()).net
    if config["backend"] == "staged":  # test.py's default on CPUs with native bf16
        import atexit
        import shutil
        import tempfile

        from rwsr.inference.staged import staged_forward

        folder = tempfile.mkdtemp(prefix="bench_staged_")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        forward = staged_forward(net, folder, {"upscale": config["scale"]}, threads=threads, cache_dir="",
                                 logger=_quiet_logger())
        if forward is None:
            raise SystemExit("the two-precision path does not apply here (no native bf16, or its check failed)")
        return SRInference(forward, config["scale"], **tiling).run
    if config["backend"] == "plain":
        def plain(x):
            with torch.no_grad():
                return generator_outputs(net(x))[0].clamp(0, 1)
        return plain
    inference = SRInference(net, config["scale"], device="cpu", channels_last=config.get("channels_last", False),
                            compile=config.get("compile", False), half=config.get("half", False), **tiling)
    return inference.run


def _quiet_logger():
    import logging

    logger = logging.getLogger("bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def _clock(config):
    """One thread: CPU time is the compute time even when other processes share the machine."""
    return time.process_time if config.get("threads") == 1 else time.perf_counter


def _set_threads(config):
    import torch

    if config.get("threads"):
        torch.set_num_threads(config["threads"])


def run_worker(config, model_path, onnx_path, out_npy):
    from rwsr.inference import image_to_tensor, tensor_to_uint8

    _set_threads(config)
    run = _build_runner(config, model_path, onnx_path)
    x = image_to_tensor(_lr_image(config["size"]))
    tile, pad = config.get("tile", 0), config.get("tile_pad", 16)
    warm = x[..., :tile + 2 * pad, :tile + 2 * pad] if tile else x  # same window shape, less work
    start = time.perf_counter()
    run(warm)  # warm-up (and compilation)
    warmup = time.perf_counter() - start
    baseline_mb = _peak_mb()
    clock, times = _clock(config), []
    for _ in range(config["repeats"]):
        start = clock()
        y = run(x)
        times.append(clock() - start)
    if out_npy:
        np.save(out_npy, tensor_to_uint8(y))
    best = min(times)
    megapixels = y.shape[-1] * y.shape[-2] / 1e6
    print(json.dumps({"seconds": best, "warmup_s": warmup, "mp_per_s": megapixels / best,
                      "peak_mb": _peak_mb(), "baseline_mb": baseline_mb}))


def run_paired(job, model_path, onnx_path):
    """All configurations in this process, taking turns; per round, the first one's time over each's."""
    from rwsr.inference import image_to_tensor, tensor_to_uint8

    configs = job["configs"]
    _set_threads(configs[0])
    runners = [_build_runner(config, model_path, onnx_path) for config in configs]
    x = image_to_tensor(_lr_image(configs[0]["size"]))
    outputs = [tensor_to_uint8(run(x)) for run in runners]  # warm-up and 8-bit outputs
    clock = _clock(configs[0])
    seconds = [[] for _ in configs]
    for round_index in range(job["rounds"]):
        order = list(range(len(configs)))
        order = order[round_index % len(order):] + order[:round_index % len(order)]  # no fixed position
        for index in order:
            start = clock()
            runners[index](x)
            seconds[index].append(clock() - start)
    levels = [int(np.abs(out.astype(np.int16) - outputs[0].astype(np.int16)).max()) for out in outputs]
    print(json.dumps({"seconds": seconds, "levels": levels}))


def run_startup(job, model_path, onnx_path):
    """OpenVINO compile time with job's cache folder, and (study) dynamic vs fixed shapes."""
    import openvino
    import torch

    from rwsr.inference.openvino_backend import OpenVinoForward

    threads = job.get("threads") or 0
    clock = _clock(job)
    start = clock()
    forward = OpenVinoForward(onnx_path, half=job.get("half", False), threads=threads, cache_dir=job["cache"])
    result = {"compile_s": clock() - start,
              "from_cache": bool(forward.compiled.get_property("LOADED_FROM_CACHE"))}
    if job.get("shapes"):
        sizes = [tuple(size) for size in job["shapes"]]
        images = {size: torch.rand(1, 3, *size) for size in sizes}
        study = {"dynamic": [], "static": []}
        for size in sizes:  # one dynamic model: first call at a new size, then again
            start = clock()
            forward(images[size])
            first = clock() - start
            start = clock()
            forward(images[size])
            study["dynamic"].append({"size": size, "new_shape_s": 0.0, "first_s": first,
                                     "again_s": clock() - start})
        core = openvino.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        for size in sizes:  # one model compiled for each fixed size
            start = clock()
            model = core.read_model(onnx_path)
            model.reshape({model.inputs[0]: [1, 3, *size]})
            request = core.compile_model(model, "CPU", config).create_infer_request()
            compile_s = clock() - start
            start = clock()
            request.infer({0: images[size].numpy()})
            first = clock() - start
            start = clock()
            request.infer({0: images[size].numpy()})
            study["static"].append({"size": size, "new_shape_s": compile_s, "first_s": first,
                                    "again_s": clock() - start})
        result["shapes"] = study
    print(json.dumps(result))


# ---------------------------------------------------------------- parent
def _spawn(job, model_path, onnx_path, out_npy=None, mode="config"):
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job), "--mode", mode,
               "--model", model_path, "--onnx", onnx_path or "", "--out_npy", out_npy or ""]
    env = dict(os.environ, **job.get("env", {}))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{mode} {job} failed:\n{result.stderr[-2000:]}")
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
    generator = load_generator(model_path, logger=_quiet_logger())
    onnx_path = os.path.join(folder, "G.onnx")
    clock = time.process_time if args.threads == 1 else time.perf_counter
    start = clock()
    export_onnx(generator.net, onnx_path, metadata={"upscale": generator.scale})
    export_s = clock() - start
    return model_path, onnx_path, generator, export_s


def _default_cpu_backend():
    """The backend test.py's auto picks on the CPU for our PyTorch weights ("staged": OpenVINO in
    two precisions, where the CPU has native bf16)."""
    import torch

    from rwsr.inference.backend_choice import backend_candidates
    from rwsr.inference.openvino_backend import cpu_half_precision

    backend = backend_candidates("auto", "G.pth", torch.device("cpu"), {})[0]
    return "staged" if backend == "openvino" and cpu_half_precision() == "bf16" else backend


def _level_difference(reference, path):
    if reference is None or not os.path.exists(path):
        return None
    return int(np.abs(np.load(path).astype(np.int16) - reference.astype(np.int16)).max())


PARTS = ("table", "paired", "startup", "memory")
HEADER = ("| configuration | LR size | output MP/s | vs plain | peak RSS MB | warm-up s | max 8-bit diff |\n"
          "|---|---|---|---|---|---|---|")


def _row(name, size, result, plain, level):
    speedup = f"{result['mp_per_s'] / plain['mp_per_s']:.2f}x" if plain else "-"
    return (f"| {name} | {size}x{size} | {result['mp_per_s']:.3f} | {speedup} | {result['peak_mb']:.0f} | "
            f"{result['warmup_s']:.1f} | {'-' if level is None else level} |")


def _per_process_table(args, configs, model_path, onnx_path, folder):
    print(HEADER)
    plain, reference, results = None, None, {}
    for name, config in configs:
        out_npy = os.path.join(folder, "out.npy")
        result = _spawn(config, model_path, onnx_path, out_npy)
        if plain is None:
            plain, reference = result, np.load(out_npy)
        level = _level_difference(reference, out_npy)
        results[name] = (config, result)
        print(_row(name, args.size, result, plain, level), flush=True)
    return plain, results


def _paired_table(args, configs, model_path, onnx_path):
    job = {"configs": [config for _, config in configs], "rounds": args.rounds}
    result = _spawn(job, model_path, onnx_path, mode="paired")
    print(f"paired, one process, {args.rounds} rounds taking turns (ratio = plain time / time, per round):\n")
    print("| configuration | median s | ratio to plain: median | min | max | max 8-bit diff |")
    print("|---|---|---|---|---|---|")
    plain = result["seconds"][0]
    for (name, _), seconds, level in zip(configs, result["seconds"], result["levels"]):
        ratios = [base / own for base, own in zip(plain, seconds)]
        print(f"| {name} | {statistics.median(seconds):.3f} | {statistics.median(ratios):.2f}x | {min(ratios):.2f}x | "
              f"{max(ratios):.2f}x | {level} |", flush=True)


def _startup_table(args, model_path, onnx_path, folder, export_s):
    cache = os.path.join(folder, "openvino_cache")
    threads = args.threads
    sizes = [[args.size, args.size], [args.size - 16, args.size + 8], [args.size // 2, args.size // 2]]
    cold = _spawn({"cache": cache, "threads": threads, "shapes": sizes}, model_path, onnx_path, mode="startup")
    warm = _spawn({"cache": cache, "threads": threads}, model_path, onnx_path, mode="startup")
    warm_half = _spawn({"cache": cache, "threads": threads, "half": True}, model_path, onnx_path, mode="startup")
    blobs = sum(os.path.getsize(os.path.join(cache, name)) for name in os.listdir(cache)) / 2 ** 20
    unit = "CPU seconds, 1 thread" if threads == 1 else "wall seconds"
    print(f"OpenVINO start-up ({unit}): ONNX export {export_s:.2f} s (every run with PyTorch weights); "
          f"compile, empty cache: {cold['compile_s']:.2f} s; second process, filled cache: {warm['compile_s']:.2f} s "
          f"(loaded from cache: {warm['from_cache']}); --half after it: {warm_half['compile_s']:.2f} s "
          f"(from cache: {warm_half['from_cache']}); cache folder {blobs:.0f} MB\n")
    print(f"one dynamic-shape model (compiled once, above) vs one fixed-shape model compiled per size "
          f"({unit}):\n")
    print("| shapes | LR size | compile for this size | first call | next call |")
    print("|---|---|---|---|---|")
    for kind, rows in cold["shapes"].items():
        for row in rows:
            print(f"| {kind} | {row['size'][0]}x{row['size'][1]} | {row['new_shape_s']:.2f} | {row['first_s']:.3f} | "
                  f"{row['again_s']:.3f} |")


def _memory_table(args, default, base, model_path, onnx_path):
    print(f"\nmemory as the image grows, test.py's CPU default ({default}, tile {args.tile}, pad {args.tile_pad}) "
          "and the plain forward:\n")
    print(HEADER)
    plain = None
    runs = [(f"{default}, tile {args.tile}", dict(base, backend=default, tile=args.tile), args.big),
            (f"{default}, whole image", dict(base, backend=default), [s for s in args.big if s <= args.whole_max]),
            ("plain fp32 forward, whole image", dict(base, backend="plain"), [s for s in args.big if s <= 512])]
    for name, config, sizes in runs:
        for size in sizes:
            result = _spawn(dict(config, size=size, repeats=1), model_path, onnx_path)
            print(_row(name, size, result, plain, None), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="config", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--out_npy", help=argparse.SUPPRESS)
    parser.add_argument("--model", help="generator checkpoint (default: random nf/nb EDL generator)")
    parser.add_argument("--nf", type=int, default=32)
    parser.add_argument("--nb", type=int, default=4)
    parser.add_argument("--size", type=int, default=160, help="LR size for the speed comparison")
    parser.add_argument("--tile", type=int, default=200, help="LR tile size of the tiled configurations")
    parser.add_argument("--tile_pad", type=int, default=16)
    parser.add_argument("--big", type=int, nargs="+", default=[250, 500, 1000],
                        help="LR sizes for the memory run (tiled; whole up to --whole_max)")
    parser.add_argument("--whole_max", type=int, default=500, help="largest LR size run as a whole image")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the paired comparison")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per configuration (0: all); 1 measures CPU time, robust on a busy machine")
    parser.add_argument("--no_compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        if args.mode == "paired":
            run_paired(job, args.model, args.onnx)
        elif args.mode == "startup":
            run_startup(job, args.model, args.onnx)
        else:
            run_worker(job, args.model, args.onnx, args.out_npy)
        return 0
    if args.quick:
        args.size, args.tile, args.big, args.repeats, args.rounds, args.no_compile = 48, 32, [48, 96], 1, 2, True
    with tempfile.TemporaryDirectory() as folder:
        model_path, onnx_path, generator, export_s = _prepare_model(args, folder)
        clock = "CPU time (1 thread)" if args.threads == 1 else f"wall time ({args.threads or os.cpu_count()} threads)"
        print(f"model: {generator.description}, CPUs: {os.cpu_count()}, timing: {clock}, "
              f"load average at start: {os.getloadavg()[0]:.2f}\n")
        scale, half_tile = generator.scale, max(16, args.size // 2)
        base = dict(size=args.size, scale=scale, repeats=args.repeats, tile_pad=args.tile_pad, threads=args.threads)
        if args.threads:
            base["env"] = {"OMP_NUM_THREADS": str(args.threads)}
        configs = [
            ("plain fp32 forward, whole image", {"backend": "plain"}),
            ("SRInference (inference_mode), whole image", {"backend": "torch"}),
            ("+ channels_last, whole image", {"backend": "torch", "channels_last": True}),
            (f"tiled, tile {half_tile} pad {args.tile_pad}", {"backend": "torch", "tile": half_tile}),
            ("onnxruntime, whole image", {"backend": "onnx"}),
            (f"onnxruntime, tiled {half_tile}", {"backend": "onnx", "tile": half_tile}),
            ("OpenVINO fp32, whole image", {"backend": "openvino"}),
            (f"OpenVINO fp32, tiled {half_tile}", {"backend": "openvino", "tile": half_tile}),
            ("OpenVINO bf16 trunk + fp32 (default with native bf16), whole image", {"backend": "staged"}),
            (f"OpenVINO bf16 trunk + fp32, tiled {half_tile}", {"backend": "staged", "tile": half_tile}),
            ("OpenVINO bf16 (--half), whole image", {"backend": "openvino", "half": True}),
            ("PyTorch bf16 autocast + channels_last, whole image",
             {"backend": "torch", "half": True, "channels_last": True}),
        ]
        if not args.no_compile:
            configs.append(("torch.compile (freezing), whole image", {"backend": "torch", "compile": True}))
        configs = [(name, dict(base, **config)) for name, config in configs]
        default = _default_cpu_backend()
        print(f"test.py's default on the CPU: {default}\n")
        if "table" in args.parts:
            _per_process_table(args, configs, model_path, onnx_path, folder)
            print()
        if "paired" in args.parts:
            paired = [(name, config) for name, config in configs if not config.get("tile") and
                      (config["backend"] in ("plain", "onnx", "openvino", "staged") or config.get("half"))]
            _paired_table(args, paired, model_path, onnx_path)
            print()
        if "startup" in args.parts:
            _startup_table(args, model_path, onnx_path, folder, export_s)
        if "memory" in args.parts:
            _memory_table(args, default, base, model_path, onnx_path)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
