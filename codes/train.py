"""Train an RWSR-EDL model: python codes/train.py -opt options/df2k/train_ntire.yml"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.train import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
