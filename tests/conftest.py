import json
import os
import subprocess
import sys

# Tests start many short torch processes on few cores; busy-waiting OpenMP threads
# would starve each other (set before torch is imported; child processes inherit it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenVINO's model cache stays off in tests (no blobs in ~/.cache); tests of the cache pass a folder.
os.environ.setdefault("RWSR_OPENVINO_CACHE", "")

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


def max_levels(a, b):
    """Largest difference of two uint8 images in 8-bit levels."""
    import numpy as np

    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def fp32_uint8(net, photo):
    """A generator's y for a uint8 HxWx3 photo: the PyTorch fp32 forward, as a uint8 image."""
    from rwsr.archs import generator_outputs
    from rwsr.inference import image_to_tensor, tensor_to_uint8

    with torch.no_grad():
        return tensor_to_uint8(generator_outputs(net(image_to_tensor(photo)))[0].clamp(0, 1))


def pytest_collection_modifyitems(items):
    """Under mutation testing (`make mutation`), run a mutant's tests fastest first.

    mutmut stops at the first failing test, so a killed mutant costs about its fastest killing
    test. Durations come from mutmut's stats run; tests of one file stay together so that module
    fixtures are built once.
    """
    if "MUTANT_UNDER_TEST" not in os.environ or not os.path.exists("mutmut-stats.json"):
        return
    with open("mutmut-stats.json", encoding="utf-8") as handle:
        durations = json.load(handle).get("duration_by_test", {})
    file_cost = {}
    for item in items:
        name = item.nodeid.split("::")[0]
        file_cost[name] = file_cost.get(name, 0.0) + durations.get(item.nodeid, 0.0)
    items.sort(key=lambda item: (file_cost[item.nodeid.split("::")[0]], durations.get(item.nodeid, 0.0)))


@pytest.fixture
def repo_root():
    return REPO
