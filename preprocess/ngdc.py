"""Noise-guided data collection: mix auxiliary clean HR images into a training list.

Usage: python preprocess/ngdc.py --help (the command is rwsr.cli.ngdc).
"""
import sys

import _bootstrap  # noqa: F401  (makes codes/ importable)
from rwsr.cli.ngdc import main

if __name__ == "__main__":
    sys.exit(main())
