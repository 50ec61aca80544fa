"""`make demo` (python codes/demo.py) and `make demo-pretrain` (python codes/demo.py --pretrain)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.utils.errors import run_cli  # noqa: E402


@run_cli
def main(argv=None):
    parser = argparse.ArgumentParser(description="RWSR-EDL CPU demo on photos bundled with scikit-image.")
    parser.add_argument("--pretrain", action="store_true",
                        help="train the PSNR-oriented starting model instead (make demo-pretrain)")
    args = parser.parse_args(argv)
    from rwsr.demo.pipeline import run_demo, run_pretrain
    return run_pretrain() if args.pretrain else run_demo()


if __name__ == "__main__":
    sys.exit(main())
