import os
import subprocess
import sys

# Tests start many short torch processes on few cores; busy-waiting OpenMP threads
# would starve each other (set before torch is imported; child processes inherit it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
# torch.optim imports torch._dynamo the first time an optimiser is built (about 3 s). Importing it
# here pays that once per session, also for processes forked from this one (mutation testing).
import torch._dynamo  # noqa: E402,F401

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODES = os.path.join(REPO, "codes")
if CODES not in sys.path:
    sys.path.insert(0, CODES)


def run_script(script, *args, cwd=None, timeout=600, env=None):
    """Run a project script (path relative to the repo) in a subprocess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, os.path.join(REPO, script), *map(str, args)],
                          cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout, env=full_env)


def assert_one_line_error(result, *fragments, code=None):
    """A user error: non-zero exit, no traceback, one line on stderr naming what is wrong."""
    assert result.returncode != 0, result.stdout + result.stderr
    if code is not None:
        assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    error_lines = [line for line in lines if line.startswith("error:")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


@pytest.fixture
def repo_root():
    return REPO
