"""test.py's inference against the official generator's forward, same weights, same image.

The official RRDBNet (the EDL generator of a snapshot of github.com/House-Leo/RWSR-EDL, loaded
from its extracted files by bench/official_peer.py; nothing of it is copied here) runs its plain
fp32 forward in PyTorch, as the official test code does. Ours runs as test.py runs it: the default
CPU backend (onnxruntime, exported once, start-up excluded) and `--half` (bf16 autocast on the CPU).
Times are the best of --repeats after a warm-up, each configuration in turn; the output is
compared with the official one in 8-bit levels.

    python bench/bench_infer_official.py --official GIT_DIR [--model G.pth] [--size 96] [--repeats 3]
"""
import argparse
import os
import sys
import tempfile
import time

import cv2
import torch
from skimage import data

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from official_peer import extract_snapshot  # noqa: E402
from rwsr.archs import build_generator  # noqa: E402
from rwsr.archs.network_files import load_network, save_network  # noqa: E402
from rwsr.inference import load_inference  # noqa: E402
from rwsr.utils.logger import get_logger  # noqa: E402


def official_generator(git_dir, work_dir, nf, nb):
    source = os.path.join(work_dir, "official")
    extract_snapshot(git_dir, source)
    sys.path.insert(0, os.path.join(source, "codes"))
    import models.modules.RRDBNet_arch as official_arch

    return official_arch.RRDBNet(3, 3, nf, nb).eval()


def best_time(run, x, repeats):
    run(x)  # warm-up
    best, y = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        y = run(x)
        best = min(best, time.perf_counter() - start)
    return best, y


def levels(y):
    return (y.float().clamp(0, 1) * 255).round()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, metavar="GIT_DIR", help="git directory of the official snapshot")
    parser.add_argument("--model", help="an RWSR-EDL generator checkpoint (default: random official-size weights)")
    parser.add_argument("--nf", type=int, default=64)
    parser.add_argument("--nb", type=int, default=23)
    parser.add_argument("--size", type=int, default=96, help="LR side (a real photo resized)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    get_logger().disabled = True
    work = tempfile.mkdtemp(prefix="bench_official_")
    torch.manual_seed(0)
    official = official_generator(args.official, work, args.nf, args.nb)
    model_path = args.model
    if model_path is None:
        model_path = os.path.join(work, "G.pth")
        ours = build_generator({"which_model_G": "RRDBNet", "nf": args.nf, "nb": args.nb})
        ours.load_state_dict(official.state_dict())
        save_network(ours, model_path)
    else:
        load_network(official, model_path)
    lr = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255.0

    def official_forward(image):
        with torch.no_grad():
            return official(image)[0]

    reference_s, reference = best_time(official_forward, x, args.repeats)
    print(f"{torch.get_num_threads()} threads, LR {args.size}x{args.size}, nf {args.nf}, nb {args.nb}")
    print(f"official forward (PyTorch fp32): {reference_s:.3f} s")
    for label, settings in (("test.py default (onnxruntime fp32)", {}), ("test.py --half (bf16 autocast)", {"half": True})):
        with load_inference(model_path, settings) as inference:
            seconds, y = best_time(inference.run, x, args.repeats)
        difference = int((levels(y) - levels(reference)).abs().max())
        print(f"{label}: {seconds:.3f} s, {reference_s / seconds:.2f}x the official forward, "
              f"max difference {difference} 8-bit level(s)")


if __name__ == "__main__":
    main()
