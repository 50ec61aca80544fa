"""Make HR/LR training pairs with MATLAB bicubic downscaling.

Usage: python preprocess/create_bicubic_dataset.py --help (the command is rwsr.cli.create_bicubic_dataset).
"""
import sys

import _bootstrap  # noqa: F401  (makes codes/ importable)
from rwsr.cli.create_bicubic_dataset import main

if __name__ == "__main__":
    sys.exit(main())
