"""Where bf16 may go: 8-bit levels from the PyTorch fp32 forward on seven photos, per precision plan.

test.py's CPU default (rwsr.inference.staged) runs the generator's trunk_stage in bf16 with its
residual sums in fp32, and the rest in fp32. This script measures that plan against its
neighbours, with OpenVINO on this CPU (it needs native bf16):

- fp32: every layer in fp32, one graph (--fp32);
- default: bf16 trunk, fp32 residual sums, fp32 rest;
- bf16 sums: the same with the trunk's residual sums in bf16 too;
- + branches (EDL generators only): also the three full-resolution convolution stacks in bf16
  (sums in fp32), only the mask, the two tail convolutions and the bicubic skip in fp32;
- bf16 everywhere (--half).

and, paired over --rounds rounds, the time of each plan on one photo.

    python bench/bench_precision.py                        # official size (nf 64, nb 23), random weights
    python bench/bench_precision.py --model G.pth --size 128   # a trained generator
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "codes"))

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry")


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="generator checkpoint (default: random official-size EDL generator)")
    parser.add_argument("--nf", type=int, default=64)
    parser.add_argument("--nb", type=int, default=23)
    parser.add_argument("--size", type=int, default=96, help="LR side of each photo (resized)")
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def _branch_graphs(net, folder, mask_in_bf16):
    """(stacks.xml, mix.onnx) of an EDL generator: the full-resolution convolution stacks that run
    in bf16 (branch 1 and 2, and with mask_in_bf16 the mask's stack before its softmax), and the
    fp32 rest: (lr, mid, stack outputs) -> sr."""
    import torch
    from torch import nn

    from rwsr.inference.staged import export_graph, keep_sums_in_fp32

    class Stacks(nn.Module):
        def forward(self, mid):
            logits = (net.sm[:-1](mid),) if mask_in_bf16 else ()
            return logits + (net.branch1(mid), net.branch2(mid))

    class Mix(nn.Module):
        def forward(self, lr, mid, b1, b2, logits=None):
            mask = net.sm[-1](logits) if mask_in_bf16 else net.sm(mid)
            y = net.tail_conv1(mask * b1) + net.tail_conv2((1 - mask) * b2)
            return y + net.bicubic(lr) if net.global_residual else y

    tag = "all" if mask_in_bf16 else "branches"
    lr = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        mid = net.trunk_stage(net.stem(lr))
        outputs = Stacks()(mid)
    names = (["logits"] if mask_in_bf16 else []) + ["b1", "b2"]
    stacks = export_graph(Stacks(), (mid,), ["mid"], names, os.path.join(folder, f"stacks_{tag}.onnx"))
    samples = (lr, mid, *outputs[-2:]) + (outputs[:1] if mask_in_bf16 else ())
    mix = export_graph(Mix(), samples, ["lr", "mid", "b1", "b2"] + (["logits"] if mask_in_bf16 else []), ["sr"],
                       os.path.join(folder, f"mix_{tag}.onnx"))
    return keep_sums_in_fp32(stacks)[0], mix, names


def _stacked_plan(stem, trunk, stacks, mix, names):
    def run(x):
        mid = trunk(fea=stem(lr=x))
        return mix(lr=x, mid=mid, **dict(zip(names, stacks(mid))))
    return run


def _all_outputs(path, precision):
    """A one-input OpenVINO model returning all its outputs as tensors."""
    import openvino
    import torch

    request = openvino.Core().compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                          "INFERENCE_PRECISION_HINT": precision}).create_infer_request()

    def run(x):
        results = request.infer({0: x.numpy()})
        return [torch.from_numpy(results[index].copy()) for index in range(len(results))]
    return run


def main():
    args = _arguments()
    import cv2
    import torch
    from skimage import data

    from rwsr.archs import build_generator
    from rwsr.inference.model_loading import load_generator
    from rwsr.inference.onnx_export import export_onnx
    from rwsr.inference.openvino_backend import OpenVinoForward, cpu_half_precision
    from rwsr.inference.staged import export_stages, keep_sums_in_fp32, levels_apart, staged_reference
    from rwsr.utils.logger import get_logger

    if cpu_half_precision() != "bf16":
        raise SystemExit("this CPU has no native bf16 in OpenVINO: nothing to compare")
    get_logger().disabled = True
    if args.model:
        net = load_generator(args.model).net
    else:
        torch.manual_seed(0)
        net = build_generator({"which_model_G": "RRDBNet", "nf": args.nf, "nb": args.nb})
    net = net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    folder = tempfile.mkdtemp(prefix="bench_precision_")
    whole = export_onnx(net, os.path.join(folder, "whole.onnx"), metadata={"upscale": net.upscale})
    stem_path, trunk_path, head_path = export_stages(net, folder, {"upscale": net.upscale})
    marked_path, _ = keep_sums_in_fp32(trunk_path)

    def graph(path, precision):
        return OpenVinoForward(path, precision=precision, cache_dir="")

    stem, head = graph(stem_path, "f32"), graph(head_path, "f32")

    def staged(trunk):
        return lambda x: head(lr=x, trunk=trunk(fea=stem(lr=x)))

    plans = {"fp32 (--fp32)": graph(whole, "f32"), "default: bf16 trunk, fp32 sums": staged(graph(marked_path, "bf16")),
             "bf16 trunk, bf16 sums": staged(graph(trunk_path, "bf16"))}
    if hasattr(net, "branches"):
        trunk = graph(marked_path, "bf16")
        for mask_in_bf16, label in ((False, "default + branch stacks in bf16"),
                                    (True, "default + branch and mask stacks in bf16")):
            stacks_path, mix_path, names = _branch_graphs(net, folder, mask_in_bf16)
            plans[label] = _stacked_plan(stem, trunk, _all_outputs(stacks_path, "bf16"), graph(mix_path, "f32"), names)
    plans["bf16 everywhere (--half)"] = graph(whole, "bf16")

    print(f"generator: {type(net).__name__}, LR {args.size}x{args.size}, levels = max |8-bit output - PyTorch fp32|\n")
    print("| photo | " + " | ".join(plans) + " |")
    print("|---" * (len(plans) + 1) + "|")
    for name in PHOTOS:
        photo = cv2.resize(getattr(data, name)(), (args.size, args.size), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            reference = staged_reference(net, x)
        print(f"| {name} | " + " | ".join(str(levels_apart(plan(x), reference)) for plan in plans.values()) + " |")
    x = torch.rand(1, 3, args.size, args.size)
    seconds = {label: [] for label in plans}
    for plan in plans.values():
        plan(x)  # warm-up
    for round_index in range(args.rounds):
        for label in list(plans)[round_index % len(plans):] + list(plans)[:round_index % len(plans)]:
            start = time.perf_counter()
            plans[label](x)
            seconds[label].append(time.perf_counter() - start)
    base = seconds["fp32 (--fp32)"]
    print(f"\n| plan | median s | vs fp32 (paired, {args.rounds} rounds) |\n|---|---:|---:|")
    for label, own in seconds.items():
        ratios = [b / o for b, o in zip(base, own)]
        print(f"| {label} | {statistics.median(own):.3f} | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
