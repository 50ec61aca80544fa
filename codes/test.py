"""Super-resolve images: python codes/test.py -opt FILE, or --model G.pth --input DIR --output DIR"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.test import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
