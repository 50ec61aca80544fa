"""test.py's inference against the official generator's forward, same weights, same image, paired.

The official RRDBNet (the EDL generator of a snapshot of github.com/House-Leo/RWSR-EDL, loaded
from its extracted files by bench/official_peer.py; nothing of it is copied here) runs its plain
fp32 forward in PyTorch, as the official test code does. Ours runs as test.py runs it
(load_inference: the default CPU backend, exported and compiled once, start-up reported apart),
with `--half`, and with the other backends named. All run in this one process and take turns,
round after round (each round starts with another configuration), so every round's ratio
official time / our time sees the same load on the machine; the median and the range of the
rounds are printed. Outputs are compared with the official one in 8-bit levels.

    python bench/bench_infer_official.py --official GIT_DIR [--model G.pth] [--size 96] [--rounds 5]
    python bench/bench_infer_official.py --official GIT_DIR --cpus 1    # one core, CPU time: for busy machines
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time


def _prepare_process(cpus):
    """Before torch and OpenVINO are imported, so that their thread pools follow: restrict this
    process to the first `cpus` CPUs (0: all), and make OpenMP threads wait passively."""
    if cpus:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cpus])
    # as test.py runs (and fair to the official forward on a shared machine): OpenMP threads wait
    # passively instead of spinning against other processes
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _conv_gflop(net, x):
    """Floating-point operations of net's convolutions on x (2 per multiply-add)."""
    import torch

    total = [0]

    def count(module, inputs, output):
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        total[0] += 2 * output.numel() * per_output

    hooks = [module.register_forward_hook(count) for module in net.modules() if isinstance(module, torch.nn.Conv2d)]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    return total[0] / 1e9


def _gemm_gflops(n=3072):
    """What this CPU reaches in fp32 on a large matrix product: the scale for the convolutions."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(6):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, metavar="GIT_DIR", help="git directory of the official snapshot")
    parser.add_argument("--model", help="an RWSR-EDL generator checkpoint (default: random official-size weights)")
    parser.add_argument("--nf", type=int, default=64)
    parser.add_argument("--nb", type=int, default=23)
    parser.add_argument("--size", type=int, default=96, help="LR side (a real photo resized)")
    parser.add_argument("--photo", default="astronaut", help="skimage.data photo")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds (each configuration once per round)")
    parser.add_argument("--cpus", type=int, default=0,
                        help="pin to this many CPUs (0: all); with 1, times are CPU seconds, robust to other jobs")
    return parser.parse_args()


def main():
    args = _arguments()
    _prepare_process(args.cpus)
    import cv2
    import torch
    from skimage import data

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(here), "codes"))
    sys.path.insert(0, here)
    from official_peer import extract_snapshot
    from rwsr.archs import build_generator
    from rwsr.archs.network_files import load_network, save_network
    from rwsr.inference import load_inference
    from rwsr.utils.logger import get_logger

    get_logger().disabled = True
    work = tempfile.mkdtemp(prefix="bench_official_")
    source = os.path.join(work, "official")
    extract_snapshot(args.official, source)
    sys.path.insert(0, os.path.join(source, "codes"))
    import models.modules.RRDBNet_arch as official_arch

    torch.manual_seed(0)
    official = official_arch.RRDBNet(3, 3, args.nf, args.nb).eval()
    model_path = args.model
    if model_path is None:
        model_path = os.path.join(work, "G.pth")
        ours = build_generator({"which_model_G": "RRDBNet", "nf": args.nf, "nb": args.nb})
        ours.load_state_dict(official.state_dict())
        save_network(ours, model_path)
    else:
        load_network(official, model_path)
    lr = cv2.resize(getattr(data, args.photo)(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255.0

    def official_forward(image):
        with torch.no_grad():
            return official(image)[0]

    ours = [("test.py default (auto)", {}, "auto"), ("test.py --fp32 (auto)", {"fp32": True}, "auto"),
            ("test.py --half (auto)", {"half": True}, "auto"),
            ("test.py --backend onnx", {}, "onnx"), ("test.py --backend torch --half", {"half": True}, "torch")]
    runners = [("official forward (PyTorch fp32, as its test code)", official_forward, "")]
    loaded = []
    cache = os.path.join(work, "openvino_cache")  # empty: start-up includes OpenVINO's compilation
    os.environ.setdefault("RWSR_OPENVINO_CACHE", cache)
    for label, settings, backend in ours:
        start = time.perf_counter()
        inference = load_inference(model_path, settings, backend=backend, device="cpu")
        startup = time.perf_counter() - start
        loaded.append(inference)
        name = type(inference.backend).__name__
        precision = getattr(inference.backend, "precision", "")
        runners.append((f"{label}: {name} {precision}".strip(), inference.run, f"{startup:.1f}"))

    clock = time.process_time if args.cpus == 1 else time.perf_counter
    outputs = [run(x) for _, run, _ in runners]  # warm-up
    seconds = [[] for _ in runners]
    for round_index in range(args.rounds):
        shift = round_index % len(runners)
        for index in list(range(len(runners)))[shift:] + list(range(len(runners)))[:shift]:
            start = clock()
            runners[index][1](x)
            seconds[index].append(clock() - start)

    def levels(y):
        return (y.float().clamp(0, 1) * 255).round()

    timing = "CPU seconds, 1 CPU" if args.cpus == 1 else f"wall seconds, {torch.get_num_threads()} threads"
    print(f"{timing}, LR {args.size}x{args.size} ({args.photo}), nf {args.nf}, nb {args.nb}, {args.rounds} paired "
          f"rounds, load average {os.getloadavg()[0]:.1f}\n")
    print("| configuration | start-up s | median s | vs official: median | min | max | max 8-bit diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, _, startup), own, y in zip(runners, seconds, outputs):
        ratios = [base / mine for base, mine in zip(seconds[0], own)]
        difference = int((levels(y) - levels(outputs[0])).abs().max())
        print(f"| {label} | {startup or '-'} | {statistics.median(own):.3f} | {statistics.median(ratios):.2f}x | "
              f"{min(ratios):.2f}x | {max(ratios):.2f}x | {difference} |")
    gflop = _conv_gflop(official, x)
    print(f"\nconvolutions: {gflop:.1f} GFLOP per forward (2 x multiply-adds, from the layer shapes); "
          "achieved: " + ", ".join(f"{label.split(':')[0]} {gflop / statistics.median(own):.0f} GFLOP/s"
                                   for (label, _, _), own in zip(runners, seconds)))
    print(f"fp32 matrix product on this CPU (torch.mm, 3072 x 3072, best of 5): {_gemm_gflops():.0f} GFLOP/s")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    for inference in loaded:
        inference.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
