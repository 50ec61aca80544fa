"""`make ablation` (python codes/ablation.py) and `make ablation-pretrain` (python codes/ablation.py --pretrain)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.ablation import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
