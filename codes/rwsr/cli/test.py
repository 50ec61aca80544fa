"""`python codes/test.py`: super-resolve images with a trained generator.

Two forms:
  test.py -opt options/df2k/test_df2k.yml          (official style, results/<name>/<dataset>/)
  test.py --model G.pth --input LR --output OUT    (any folder or file, optional --gt)
"""
import argparse
import os
import sys

from ..utils.errors import RwsrError, run_cli

EXTENSIONS = ("png", "jpg", "webp", "tif")


def _flag(parser, name, help_text):
    """A boolean switch whose absence means 'take it from the option file'."""
    parser.add_argument(name, action="store_const", const=True, default=None, help=help_text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="test.py", description="Super-resolve LR images with a trained RWSR-EDL / ESRGAN generator.",
        epilog="Either -opt FILE, or --model, --input and --output. Flags given with -opt override the file.")
    parser.add_argument("-opt", "--opt", help="YAML option file (official test_df2k.yml style)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="override options of -opt")
    parser.add_argument("--model", help="generator weights: .pth, .safetensors or an exported .onnx")
    parser.add_argument("--input", help="LR image or video file (mp4, mkv, mov, webm, avi), or a folder of them")
    parser.add_argument("--output", help="folder for the results (created)")
    parser.add_argument("--gt", help="folder of HR images with the same names: PSNR/SSIM/LPIPS are computed")
    parser.add_argument("--scale", type=int, choices=(1, 2, 3, 4),
                        help="upscale factor of the generator (default: from the model)")
    parser.add_argument("--interp", metavar="B:ALPHA",
                        help="run the blend (1 - ALPHA) model + ALPHA B of two files of one architecture "
                             "(network interpolation, as rwsr-interpolate writes it)")
    parser.add_argument("--arch", nargs="+", default=[], metavar="KEY=VALUE",
                        help="network_G options overriding what the checkpoint says, e.g. global_residual=true")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="a module of yours that a weight file's generator (module:Class in its metadata) may be "
                             "imported from; repeat for several (a weight file never imports anything by itself)")
    parser.add_argument("--tile", type=int, help="LR tile size, 0 for whole images (default 0)")
    parser.add_argument("--tile_pad", type=int, help="LR context around each tile (default 16)")
    parser.add_argument("--tile_batch", type=int, help="tiles per forward pass; 0 picks (default)")
    _flag(parser, "--ensemble", "x8 self-ensemble (flips and rotations): slower, slightly better")
    parser.add_argument("--back_projection", type=int, metavar="N",
                        help="N iterations of back-projection against the LR image (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto: CUDA when available")
    _flag(parser, "--half", "fp16 autocast on CUDA; bf16 on the CPU (OpenVINO's bf16 precision, or PyTorch's "
          "autocast): faster, up to 2 8-bit levels apart")
    _flag(parser, "--fp32", "every layer in fp32 on the CPU (default: the LR trunk of the EDL generator in bf16 where "
          "the CPU has native bf16, checked within one 8-bit level of fp32; see docs/inference.md)")
    _flag(parser, "--compile", "torch.compile the generator; use with --tile (compiled once per tile shape)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx", "openvino"), default="auto",
                        help="auto: the fastest available (CPU: openvino, else onnx; CUDA: torch, onnx for .onnx "
                             "files), logged; onnx/openvino with a .pth export it to ONNX first")
    parser.add_argument("--ext", choices=EXTENSIONS,
                        help="image output format (default png, lossless); png and tif keep 16 bits and alpha, "
                             "webp (lossless) keeps alpha, jpg neither; videos keep their container")
    parser.add_argument("--outscale", type=float, metavar="S",
                        help="final size = round(S x input size), any S > 0 (e.g. 3.5): the model's output "
                             "resized with MATLAB bicubic (default: the model's factor)")
    parser.add_argument("--alpha", choices=("bicubic", "model"),
                        help="how an alpha channel is upscaled: bicubic (default) or through the model as gray")
    parser.add_argument("--no_niqe", action="store_true", help="no NIQE in the metrics files when there is no --gt")
    parser.add_argument("--suffix", help="appended to each output name, e.g. _x4")
    parser.add_argument("--crop_border", type=int, help="pixels ignored at each border by PSNR/SSIM (default scale)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results")
    parser.add_argument("--no_ema", action="store_true", help="do not prefer EMA weights")
    parser.add_argument("--no_lpips", action="store_true", help="skip LPIPS even when its weights are available")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def _check_form(args, parser):
    folder_args = [name for name in ("model", "input", "output", "gt") if getattr(args, name)]
    if args.opt:
        if {"input", "output", "gt"} & set(folder_args):
            raise RwsrError("-opt takes its inputs and outputs from the option file; drop --input/--output/--gt "
                            "or drop -opt", exit_code=2)
        return "options"
    if args.set:
        raise RwsrError("--set needs -opt FILE", exit_code=2)
    missing = [f"--{name}" for name in ("model", "input", "output") if not getattr(args, name)]
    if missing:
        raise RwsrError(f"missing {', '.join(missing)}; use -opt FILE or --model G.pth --input LR --output OUT "
                        f"(see {parser.prog} --help)", exit_code=2)
    return "folder"


_FLAG_TO_OPTION = {"tile": "tile", "tile_pad": "tile_pad", "tile_batch": "tile_batch", "ensemble": "ensemble",
                   "half": "half", "fp32": "fp32", "compile": "compile", "ext": "save_ext"}


def settings_from_flags(args):
    """The `test` options given on the command line (they override an option file's)."""
    settings = {key: getattr(args, flag) for flag, key in _FLAG_TO_OPTION.items() if getattr(args, flag) is not None}
    if args.back_projection is not None:
        settings["back_projection"] = args.back_projection > 0
        settings["back_projection_iters"] = max(1, args.back_projection)
    return settings


def _check_failures(results):
    failed = sum(len(result.failures) for result in results)
    total = failed + sum(len(result.written) for result in results)
    if failed:
        raise RwsrError(f"{failed} of {total} input(s) could not be processed (listed above)", exit_code=1)


def _print_tables(results):
    from ..inference.report import format_table

    for result in results:
        if result.records:
            print(format_table(result.records), flush=True)


@run_cli
def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    form = _check_form(args, parser)
    settings = settings_from_flags(args)
    # OpenMP threads that busy-wait starve each other when other processes share the CPUs (testing
    # while training): measured 3-12x slower on 2 cores. Passive waiting costs little otherwise.
    # Effective only before torch is first imported, i.e. from the command line.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .. import inference  # torch is imported here, after the arguments are checked
    from ..inference.model_loading import parse_interp
    from ..options.loader import network_overrides

    common = dict(backend=args.backend, prefer_ema=not args.no_ema, overwrite=args.overwrite,
                  interp=parse_interp(args.interp) if args.interp else None, plugins=tuple(args.plugin),
                  lpips=not args.no_lpips, crop_border=args.crop_border, suffix=args.suffix or "",
                  progress=not args.no_progress, alpha=args.alpha or "bicubic", outscale=args.outscale,
                  niqe=not args.no_niqe)
    if form == "options":
        results = inference.super_resolve_option_file(args.opt, args.set, settings, device=args.device,
                                                      ext=args.ext, **common).values()
    else:
        from ..utils.logger import setup_logger

        setup_logger()
        flags = {key: value for key, value in settings.items() if key not in ("back_projection", "save_ext")}
        flags["back_projection"] = settings["back_projection_iters"] if settings.get("back_projection") else 0
        flags.pop("back_projection_iters", None)
        results = [inference.super_resolve_folder(args.model, args.input, args.output, gt=args.gt,
                                                  device=args.device or "auto", ext=args.ext or "png",
                                                  overrides=network_overrides(args.arch, args.scale), **flags,
                                                  **common)]
    _print_tables(results)
    _check_failures(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
