"""The benchmark scripts are not run by CI; they must at least start (imports, arguments)."""
import glob
import os

import pytest

from conftest import REPO, run_script

SCRIPTS = sorted(os.path.relpath(path, REPO) for path in glob.glob(os.path.join(REPO, "bench", "bench_*.py")))


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_starts(script):
    result = run_script(script, "--help", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
