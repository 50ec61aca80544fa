"""Collect flat, low-variance patches of real photos: their content is mostly sensor noise.

Usage: python preprocess/collect_noise.py --help (the command is rwsr.cli.collect_noise).
"""
import sys

import _bootstrap  # noqa: F401  (makes codes/ importable)
from rwsr.cli.collect_noise import main

if __name__ == "__main__":
    sys.exit(main())
