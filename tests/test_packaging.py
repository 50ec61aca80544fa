import os
import subprocess
import sys

import pytest

from conftest import REPO, run_script


def test_console_scripts_installed():
    bindir = os.path.dirname(sys.executable)
    for name in ("rwsr-train", "rwsr-test"):
        script = os.path.join(bindir, name)
        if not os.path.exists(script):
            pytest.skip("package not installed with pip install -e . in this interpreter")
        result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "usage" in result.stdout.lower()


def test_entry_points_run_from_a_clone():
    result = run_script("codes/train.py", "--help")
    assert result.returncode == 0 and "-opt" in result.stdout


def test_layout():
    for path in ("codes/train.py", "codes/test.py", "codes/rwsr/__init__.py", "preprocess", "options/df2k",
                 "experiments/.gitkeep", "figures", "tests", "bench", "requirements.txt", "setup.py",
                 "README.md", "Makefile", ".ci/run"):
        assert os.path.exists(os.path.join(REPO, path)), path
