"""Draw figures/interpolation_strip.png: `python figures/interpolation_strip.py [--edl G.pth]`.

Network interpolation between the shipped demo PSNR model and an EDL model at alpha 0, 0.5, 1;
without --edl the demo's EDL model is trained first (about 200 iterations, minutes on a CPU).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.demo.interpolation import run_interpolation_strip  # noqa: E402
from rwsr.utils.errors import run_cli  # noqa: E402


@run_cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edl", help="a trained EDL generator of the demo's architecture (default: train one)")
    parser.add_argument("--niter", type=int, help="train only this many iterations (default: the demo's 200)")
    args = parser.parse_args(argv)
    return run_interpolation_strip(args.edl, args.niter)


if __name__ == "__main__":
    sys.exit(main())
