"""`make demo` (python codes/demo.py) and `make demo-pretrain` (python codes/demo.py --pretrain)."""
import argparse
import sys

from ..utils.errors import run_cli


def build_parser():
    parser = argparse.ArgumentParser(prog="demo.py", description="RWSR-EDL CPU demo on photos bundled with scikit-image.")
    parser.add_argument("--pretrain", action="store_true",
                        help="train the PSNR-oriented starting model instead (make demo-pretrain)")
    return parser


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    from ..demo.pipeline import run_demo, run_pretrain

    return run_pretrain() if args.pretrain else run_demo()


if __name__ == "__main__":
    sys.exit(main())
