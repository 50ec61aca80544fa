"""`make demo` (python codes/demo.py) and `make demo-pretrain` (python codes/demo.py --pretrain)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from rwsr.cli.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
