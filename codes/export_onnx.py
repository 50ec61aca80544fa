"""Export a generator to ONNX: python codes/export_onnx.py --model G.pth --output G.onnx"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.export_onnx import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
