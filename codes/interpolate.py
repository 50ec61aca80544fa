"""Network interpolation: python codes/interpolate.py A.pth B.pth --alpha 0.3 -o C.pth"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.interpolate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
