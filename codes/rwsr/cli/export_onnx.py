"""`python codes/export_onnx.py --model G.pth --output G.onnx [--opset 17] [--half]`.

Exports the generator's final output y with dynamic batch, height and width,
then runs the file with onnxruntime on two input sizes against PyTorch.
"""
import argparse
import os
import sys

from ..utils.errors import RwsrError, run_cli

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 2e-2


def build_parser():
    parser = argparse.ArgumentParser(prog="export_onnx.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", required=True, help="generator weights (.pth or .safetensors): ours, or any "
                        "model spandrel recognises")
    parser.add_argument("--output", required=True, help="ONNX file to write (.onnx)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    parser.add_argument("--half", action="store_true", help="fp16 weights, input and output (GPU runtimes)")
    parser.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                        help="PyTorch exporter: torchscript (default, fast) or the torch.export-based dynamo")
    parser.add_argument("--input_size", type=int, metavar="N",
                        help="export for N x N inputs only, for networks whose graph holds the traced size (window "
                             "attention: SwinIR, HAT); test.py then runs it on tiles of exactly N")
    parser.add_argument("--arch", nargs="+", default=[], metavar="KEY=VALUE",
                        help="network_G options overriding what the checkpoint says")
    parser.add_argument("--no_ema", action="store_true", help="do not prefer EMA weights")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="a module of yours that a weight file's generator (module:Class in its metadata) may be "
                             "imported from; repeat for several (a weight file never imports anything by itself)")
    parser.add_argument("--no_verify", action="store_true", help="skip the onnxruntime check")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


def _check_paths(args):
    if not args.output.lower().endswith(".onnx"):
        raise RwsrError(f"{args.output}: the output name must end with .onnx", exit_code=2)
    if os.path.exists(args.output) and not args.overwrite:
        raise RwsrError(f"{args.output}: exists; pass --overwrite to replace it", exit_code=2)
    if args.model.lower().endswith(".onnx"):
        raise RwsrError(f"{args.model}: already an ONNX model", exit_code=2)
    if args.input_size is not None and args.input_size < 8:
        raise RwsrError(f"--input_size {args.input_size}: use 8 or more (e.g. 256)", exit_code=2)
    if args.opset < 11:
        raise RwsrError(f"--opset {args.opset}: use 11 or newer (17 recommended)", exit_code=2)


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    _check_paths(args)
    from ..inference.model_loading import load_generator
    from ..inference.onnx_export import export_onnx, max_onnx_difference
    from ..utils.logger import setup_logger
    from ..options.loader import network_overrides

    logger = setup_logger()
    generator = load_generator(args.model, network_overrides(args.arch), prefer_ema=not args.no_ema, logger=logger,
                               plugins=tuple(args.plugin))
    options = generator.options or {}
    metadata = {key: options[key] for key in ("which_model_G", "nf", "nb", "gc", "global_residual") if key in options}
    metadata.update(upscale=generator.scale, architecture=generator.description,
                    source=os.path.basename(generator.weights))
    net = generator.net
    export_onnx(net, args.output, opset=args.opset, half=args.half, metadata=metadata, exporter=args.exporter,
                in_channels=3, input_size=args.input_size)
    print(f"wrote {args.output}: {generator.description}, opset {args.opset}, "
          f"{'fp16' if args.half else 'fp32'}, input 'lr' N x 3 x H x W in [0, 1]")
    if args.no_verify:
        return 0
    sizes = ((args.input_size, args.input_size),) if args.input_size else ((24, 24), (17, 31))
    difference = max_onnx_difference(args.output, net, sizes=sizes, in_channels=3)
    tolerance = FP16_TOLERANCE if args.half else FP32_TOLERANCE
    print(f"onnxruntime vs PyTorch on {' and '.join(f'{h}x{w}' for h, w in sizes)} inputs: "
          f"max |difference| {difference:.2e}")
    if difference > tolerance:
        raise RwsrError(f"{args.output}: onnxruntime output differs from PyTorch by {difference:.2e} "
                        f"(> {tolerance:g}); try another --opset or --exporter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
