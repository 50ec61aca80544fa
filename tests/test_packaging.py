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


CONSOLE_SCRIPTS = ("rwsr-train", "rwsr-test", "rwsr-export-onnx", "rwsr-create-bicubic-dataset", "rwsr-collect-noise",
                   "rwsr-create-lmdb", "rwsr-ngdc")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install .` (not editable) into a fresh venv that borrows this venv's dependencies."""
    import site
    import sysconfig
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies (torch, ...) and pip come from this interpreter's site-packages; rwsr must not
    borrowed = [path for path in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if os.path.isdir(path)]
    with open(os.path.join(purelib, "borrowed_dependencies.pth"), "w") as handle:
        handle.write("\n".join(dict.fromkeys(borrowed)) + "\n")
    build = root / "build"  # a copy of the project, so the build leaves nothing in the clone
    subprocess.run(["git", "clone", "-q", REPO, str(build)], check=True, timeout=120)
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                             "--no-build-isolation", "--no-index", str(build)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return venv, root


def test_pip_install_gives_working_console_scripts(installed):
    venv, root = installed
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import rwsr; print(rwsr.__file__)"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not the clone
    for name in CONSOLE_SCRIPTS:
        result = subprocess.run([str(venv / "bin" / name), "--help"], capture_output=True, text=True, timeout=120,
                                cwd=root)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
        assert "usage" in result.stdout.lower(), name


def test_installed_test_command_super_resolves_outside_the_clone(installed):
    import numpy as np
    import torch
    from arch_helpers import tiny_generator
    from rwsr.utils.image_io import read_image, write_image
    venv, root = installed
    work = root / "work"
    (work / "lr").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(tiny_generator().state_dict(), work / "G.pth")
    write_image(str(work / "lr" / "a.png"), np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8))
    result = subprocess.run([str(venv / "bin" / "rwsr-test"), "--model", "G.pth", "--input", "lr", "--output", "sr",
                             "--no_progress"], cwd=work, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_image(str(work / "sr" / "a.png")).shape == (48, 40, 3)
