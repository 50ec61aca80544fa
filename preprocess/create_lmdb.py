"""Pack a folder of images into an LMDB for faster training reads.

Usage: python preprocess/create_lmdb.py --help (the command is rwsr.cli.create_lmdb).
"""
import sys

import _bootstrap  # noqa: F401  (makes codes/ importable)
from rwsr.cli.create_lmdb import main

if __name__ == "__main__":
    sys.exit(main())
