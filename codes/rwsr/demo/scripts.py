"""The project's own commands as a user runs them, for `make demo` and `make ablation`.

Shared by rwsr.demo.pipeline and rwsr.demo.ablation so that both exercise exactly what the
README documents: create_bicubic_dataset, collect_noise and train.py run in subprocesses, the
held-out test calls the Python API behind test.py (rwsr.inference.super_resolve_folder).
"""
import os
import shutil
import subprocess
import sys
from collections import deque

from ..archs.network_files import parse_network_file_name
from ..utils.errors import RwsrError
from .camera import build_camera_domain

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DATA_ROOT = os.path.join("datasets", "demo")
SCALE = 4
# collect_noise defaults (256 px, max_var 20) suit 2K photos; these photos are
# small, so tiles are 32 px with a 16 px stride, and JPEG blocks raise the
# variance of flat areas a little.
NOISE_ARGS = ("--patch_size", "32", "--stride", "16", "--max_var", "40")
# Lines of a failed script's output repeated when its output went to a callback instead of the terminal.
_FAILURE_TAIL = 15


def run_script(script, *args, on_line=None):
    """Run a project script from the repository root; RwsrError when it fails.

    on_line: None lets the script print to the terminal; a function receives each output line
    (stdout and stderr together) instead, e.g. to drive a progress bar.
    """
    command = [sys.executable, os.path.join(REPO, script), *map(str, args)]
    if on_line is None:
        returncode, tail = subprocess.run(command, cwd=REPO).returncode, []
    else:
        returncode, tail = _run_reading_lines(command, on_line)
    if returncode != 0:
        shown = "".join(f"\n  | {line}" for line in tail)
        raise RwsrError(f"stopped: {script} exited with {returncode}{shown}")


def _run_reading_lines(command, on_line):
    tail = deque(maxlen=_FAILURE_TAIL)
    # Unbuffered: a piped Python child would otherwise hold its log lines back in 8 KB blocks.
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Passive OpenMP waiting, as test.py sets it: busy-waiting threads of runs that share the CPU
    # with other jobs starve each other (README, Benchmarks), which would distort s/iteration.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1, env=env) as process:
        for line in process.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            on_line(line)
    return process.returncode, list(tail)


def prepare_data():
    """Camera domain, HR/LR pairs and the noise pool under datasets/demo; returns the domain's folders."""
    paths = build_camera_domain(os.path.join(REPO, DATA_ROOT))
    generated = os.path.join(REPO, DATA_ROOT, "generated", "tdsr")  # official folder names
    run_script("preprocess/create_bicubic_dataset.py", "--source", paths["source"], "--target", paths["target"],
               "--output", generated, "--cleanup_factor", 2, "--upscale_factor", SCALE)
    run_script("preprocess/collect_noise.py", "--source", paths["source"],
               "--output", os.path.join(REPO, DATA_ROOT, "Corrupted_noise"), *NOISE_ARGS, "--overwrite")
    return paths


def train(options_path, *overrides, auto_resume=False, on_line=None):
    """codes/train.py -opt options_path [--set overrides] [--auto_resume]."""
    args = ["-opt", options_path]
    if overrides:
        args += ["--set", *overrides]
    if auto_resume:
        args.append("--auto_resume")
    run_script("codes/train.py", *args, on_line=on_line)


def newest_generator(experiment_dir):
    """Path of the last saved generator of an experiment folder (highest iteration)."""
    found = saved_generators(experiment_dir)
    if not found:
        raise RwsrError(f"{os.path.join(experiment_dir, 'models')}: no generator checkpoint was saved")
    return found[max(found)]


def saved_generators(experiment_dir):
    """{iteration: path} of the `<iter>_G.pth/.safetensors` files of an experiment folder."""
    models = os.path.join(experiment_dir, "models")
    found = {}
    for name in os.listdir(models) if os.path.isdir(models) else []:
        parsed = parse_network_file_name(name)
        if parsed and parsed[1] == "G" and parsed[0].isdigit():
            found[int(parsed[0])] = os.path.join(models, name)
    return found


def store_final_generator(experiment_dir, target, options_path):
    """Copy an experiment's last generator to target (relative to the repository), e.g. a shipped start model."""
    source = newest_generator(experiment_dir)
    if not source.endswith(".safetensors"):
        raise RwsrError(f"{source}: expected a .safetensors generator (logger.save_format in {options_path})")
    shutil.copyfile(source, os.path.join(REPO, target))
    print(f"stored {source} as {target}")


def test_model(model_path, output_dir, lr_dir, hr_dir, quiet=False):
    """Super-resolve a folder of LR images and measure them against their HR truth, as test.py
    does; results, metrics.csv and metrics.json in output_dir. quiet: no progress bar, log or table."""
    import logging

    from ..inference import super_resolve_folder
    from ..inference.report import format_table
    from ..utils.logger import get_logger

    logger = get_logger()
    if quiet:
        logger = logging.getLogger("rwsr.demo.quiet")
        logger.propagate, logger.disabled = False, True
    result = super_resolve_folder(model_path, lr_dir, output_dir, gt=hr_dir, overwrite=True, progress=not quiet,
                                  logger=logger)
    if result.failures:
        raise RwsrError(f"{model_path}: {len(result.failures)} held-out image(s) failed: {result.failures[0][1]}")
    if not quiet:
        print(format_table(result.records), flush=True)
    return output_dir
