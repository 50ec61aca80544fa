"""How the data-preparation commands start: what they import, BLAS threads, where the presets
file is found (in a clone and installed), and their console scripts."""
import importlib
import os
import re
import shutil
import subprocess
import sys

import cv2
import pytest
from skimage import data

from conftest import CODES, REPO, assert_one_line_error, run_script
from rwsr.prep.presets import load_preset

COMMANDS = ("create_bicubic_dataset", "collect_noise", "create_lmdb", "ngdc")
BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def imported_modules(result):
    """Top-level names of the modules a run imported (from PYTHONPROFILEIMPORTTIME lines on stderr)."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in result.stderr.splitlines() if line.startswith("import time:") and "|" in line}


def save_photos(folder):
    os.makedirs(folder)
    for name, image in (("astro", data.astronaut()[:64, :64]), ("coffee", data.coffee()[:64, :64])):
        assert cv2.imwrite(os.path.join(folder, f"{name}.png"), image[:, :, ::-1])
    return folder


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_neither_numpy_nor_torch(command):
    result = run_script(f"preprocess/{command}.py", "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0 and "usage" in result.stdout
    modules = imported_modules(result)
    assert "rwsr" in modules
    assert not modules & {"numpy", "torch"}


def test_pairs_noise_and_lmdb_runs_do_not_import_torch(tmp_path):
    source = save_photos(str(tmp_path / "source"))
    runs = [("create_bicubic_dataset", "--source", source, "--output", tmp_path / "pairs"),
            ("collect_noise", "--source", source, "--output", tmp_path / "noise", "--patch_size", 16,
             "--max_var", 1e6),
            ("create_lmdb", "--input", source, "--output", tmp_path / "photos.lmdb")]
    for command, *args in runs:
        result = run_script(f"preprocess/{command}.py", *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert result.returncode == 0, result.stderr[-2000:]
        modules = imported_modules(result)
        assert "numpy" in modules and "torch" not in modules, command


BLAS_PROBE = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from rwsr.cli.create_lmdb import main
assert "numpy" not in sys.modules
main(["--input", sys.argv[2], "--output", sys.argv[3]])
assert "numpy" in sys.modules
print(" ".join(os.environ.get(name, "unset") for name in sys.argv[4:]))
"""


@pytest.mark.parametrize("given, expected", [(None, "1 1 1"), ("3", "3 1 1")])
def test_commands_ask_for_one_blas_thread_before_numpy_loads(tmp_path, given, expected):
    source = save_photos(str(tmp_path / "source"))
    env = {key: value for key, value in os.environ.items() if key not in BLAS_VARIABLES}
    if given:
        env["OMP_NUM_THREADS"] = given  # the user's own setting wins
    probe = [sys.executable, "-c", BLAS_PROBE, CODES, source, str(tmp_path / "x.lmdb"), *BLAS_VARIABLES]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == expected


def test_scripts_are_thin_and_only_the_bootstrap_edits_sys_path():
    for command in COMMANDS:
        with open(os.path.join(REPO, "preprocess", f"{command}.py"), encoding="utf-8") as handle:
            text = handle.read()
        assert not re.search(r"sys\.path\s*[.\[=+]", text) and f"from rwsr.cli.{command} import main" in text
    assert not os.path.exists(os.path.join(REPO, "preprocess", "_common.py"))


def test_relative_preset_paths_are_relative_to_the_clone_wherever_the_command_starts(tmp_path, monkeypatch):
    paths = tmp_path / "paths.yml"
    paths.write_text("mine:\n  tdsr:\n    source: ./datasets/mine/x\ndatasets:\n  mine: ./datasets/MINE\n")
    monkeypatch.chdir(tmp_path)
    preset = load_preset(str(paths), "mine", "tdsr")
    assert preset["source"] == os.path.join(REPO, "datasets", "mine", "x")
    assert preset["root"] == os.path.join(REPO, "datasets", "MINE")
    default = load_preset(None, "df2k", "tdsr")
    assert default["file"] == os.path.join(REPO, "preprocess", "paths.yml")
    assert default["root"] == os.path.join(REPO, "datasets", "DF2K")


def test_installed_package_reads_presets_from_the_current_folder(tmp_path):
    """As after `pip install .`: the package outside any clone, run from the user's project folder."""
    site = tmp_path / "site-packages"
    shutil.copytree(os.path.join(CODES, "rwsr"), site / "rwsr", ignore=shutil.ignore_patterns("__pycache__"))
    project = tmp_path / "project"
    save_photos(str(project / "photos"))
    (project / "preprocess").mkdir()
    (project / "preprocess" / "paths.yml").write_text(
        "mine:\n  tdsr:\n    source: ./photos\ndatasets:\n  mine: ./datasets/MINE\n")
    env = dict(os.environ, PYTHONPATH=str(site))  # ahead of the clone an editable install points at

    def run(cwd, *args):
        return subprocess.run([sys.executable, "-m", "rwsr.cli.create_bicubic_dataset", *map(str, args)],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    done = run(project, "--dataset", "mine", "--upscale_factor", 2)
    assert done.returncode == 0, done.stderr
    hr = project / "datasets" / "MINE" / "generated" / "tdsr" / "HR"
    assert sorted(os.listdir(hr)) == ["astro.png", "coffee.png"]
    elsewhere = run(tmp_path, "--dataset", "mine")
    assert_one_line_error(elsewhere, os.path.join("preprocess", "paths.yml"), "cannot read presets",
                          "--paths FILE", code=2)


def test_setup_declares_a_console_script_per_command():
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as handle:
        scripts = dict(re.findall(r'"(rwsr-[\w-]+)=([\w.]+):main"', handle.read()))
    for command in COMMANDS:
        module = scripts["rwsr-" + command.replace("_", "-")]
        assert module == f"rwsr.cli.{command}"
        assert callable(importlib.import_module(module).main)
