"""`rwsr-interpolate A B --alpha 0.3 -o C`: network interpolation of two generator files.

Writes (1 - alpha) A + alpha B, tensor by tensor, for two files of the same architecture
(ours or any other: the tensors are blended, no network is built); the metadata of A is kept.
Between a PSNR-oriented model (A) and a GAN-trained one (B), alpha trades fidelity for texture.
"""
import argparse
import sys

from ..utils.errors import RwsrError, run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog="rwsr-interpolate", description=__doc__.split("\n\n")[1])
    parser.add_argument("first", metavar="A", help="generator weights (.pth or .safetensors), weight 1 - alpha")
    parser.add_argument("second", metavar="B", help="generator weights of the same architecture, weight alpha")
    parser.add_argument("--alpha", type=float, required=True, help="0 gives A, 1 gives B")
    parser.add_argument("-o", "--output", required=True, help="file to write (.pth, or .safetensors by its suffix)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.output.lower().endswith((".pth", ".safetensors")):
        raise RwsrError(f"{args.output}: the output name must end with .pth or .safetensors", exit_code=2)
    from ..archs.interpolation import interpolate_files

    interpolate_files(args.first, args.second, args.alpha, args.output, overwrite=args.overwrite)
    print(f"wrote {args.output}: {1 - args.alpha:g} x {args.first} + {args.alpha:g} x {args.second}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
