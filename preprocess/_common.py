"""Shared plumbing of the preprocessing scripts: arguments, presets, checks, parallel runs.

Each script puts `codes/` on sys.path and imports this module before numpy.
"""
import os
import sys

# --workers decides how many cores work; one BLAS thread per process keeps N
# workers from running N x cores threads. It only takes effect before numpy
# loads its BLAS, so a process that already has numpy (a test) is left alone.
if "numpy" not in sys.modules:
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from rwsr.utils.errors import RwsrError  # noqa: E402
from rwsr.utils.fs import is_inside  # noqa: E402
from rwsr.utils.image_io import check_unique_stems, image_stem, list_images  # noqa: E402,F401 (scripts import check_unique_stems from here)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATHS_FILE = os.path.join(REPO_ROOT, "preprocess", "paths.yml")


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error: ...` line (exit 2)."""

    def error(self, message):
        raise RwsrError(f"{message} (see {self.prog} --help)", exit_code=2)


def add_common_arguments(parser, default_workers=1):
    parser.add_argument("--paths", default=DEFAULT_PATHS_FILE,
                        help="YAML file with the --dataset presets (default: preprocess/paths.yml)")
    parser.add_argument("--workers", type=int, default=default_workers,
                        help="number of processes working in parallel (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace results that already exist")


def check_workers(workers):
    if workers < 1:
        raise RwsrError(f"--workers {workers}: must be at least 1", exit_code=2)
    return workers


# ---------------------------------------------------------------- presets (paths.yml)

def _resolve(path):
    """paths.yml paths are relative to the repository root."""
    return os.path.normpath(os.path.join(REPO_ROOT, os.path.expanduser(str(path))))


def load_preset(paths_file, dataset, artifacts):
    """The folders and settings of `<dataset>.<artifacts>` with paths made absolute.

    Returns dict(source, target or None, root, noise: dict).
    """
    try:
        with open(paths_file, encoding="utf-8") as handle:
            paths = yaml.safe_load(handle) or {}
    except OSError as err:
        raise RwsrError(f"{paths_file}: cannot read presets ({err.strerror})", exit_code=2) from None
    except yaml.YAMLError as err:
        raise RwsrError(f"{paths_file}: not valid YAML ({str(err).splitlines()[0]})", exit_code=2) from None
    presets = [f"{name}.{kind}" for name, kinds in paths.items() if name != "datasets" and isinstance(kinds, dict)
               for kind in kinds]
    entry = (paths.get(dataset) or {}).get(artifacts) if isinstance(paths.get(dataset), dict) else None
    if not isinstance(entry, dict):
        raise RwsrError(f"{paths_file}: no preset {dataset}.{artifacts}; available: {', '.join(presets) or 'none'}",
                        exit_code=2)
    root = (paths.get("datasets") or {}).get(dataset)
    if not root:
        raise RwsrError(f"{paths_file}: datasets.{dataset} is not set; give the folder for the generated data",
                        exit_code=2)
    if not entry.get("source") and not entry.get("target"):
        raise RwsrError(f"{paths_file}: {dataset}.{artifacts} names neither source nor target", exit_code=2)
    return {
        "source": _resolve(entry["source"]) if entry.get("source") else None,
        "target": _resolve(entry["target"]) if entry.get("target") else None,
        "root": _resolve(root),
        "noise": dict(entry.get("noise") or {}),
        "key": f"{dataset}.{artifacts}",
        "file": paths_file,
    }


def check_preset_folder(preset, role):
    folder = preset[role]
    if folder and not os.path.isdir(folder):
        raise RwsrError(f"{preset['file']}: {preset['key']}.{role} {folder} is not a folder; "
                        "edit the path in paths.yml", exit_code=2)


# ---------------------------------------------------------------- input and output checks

def list_input_images(folder, recursive=False):
    images = list_images(folder, recursive=recursive)
    if not images:
        raise RwsrError(f"{folder}: no images found (png, jpg, bmp, tif, webp...); check the folder", exit_code=2)
    return images


def check_output_location(output, inputs):
    """The output may neither lie inside an input folder nor contain one."""
    for folder in inputs:
        if folder is None:
            continue
        if is_inside(output, folder):
            raise RwsrError(f"output {output} lies inside input folder {folder}; choose an output outside it",
                            exit_code=2)
        if is_inside(folder, output):
            raise RwsrError(f"input folder {folder} lies inside output {output}; choose another output",
                            exit_code=2)


def make_folder(path):
    """os.makedirs with a one-line error when the path is a file or not writable."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise RwsrError(f"{path} exists and is not a folder; choose another output", exit_code=2)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise RwsrError(f"{path}: cannot create the folder ({err.strerror or err})", exit_code=2) from None


# ---------------------------------------------------------------- parallel batch runs

@dataclass
class TaskResult:
    """What one worker call did to one input file."""
    path: str
    status: str  # "done", "existing" (finished by an earlier run) or "failed"
    message: str = ""
    payload: object = None


def guarded(function, path, *args):
    """Run function(path, *args); an unreadable image becomes a failed result, not a crash."""
    try:
        return function(path, *args)
    except RwsrError as err:
        return TaskResult(path, "failed", str(err))
    except OSError as err:
        return TaskResult(path, "failed", f"{path}: {err.strerror or err}")


def _call(job):
    function, path, args = job
    return guarded(function, path, *args)


def run_batch(function, paths, args, workers, desc, ordered=False):
    """Apply function(path, *args) to every path; yields TaskResults as they finish.

    Failures are reported on stderr as they happen (`skipped: <path>: <why>`).
    workers == 1 runs in this process, which keeps profiling and debugging simple.
    """
    jobs = [(function, path, args) for path in paths]
    progress = tqdm(total=len(jobs), desc=desc, unit="img", disable=None, file=sys.stderr)
    try:
        if workers == 1:
            results = map(_call, jobs)
            yield from _report(results, progress)
        else:
            with multiprocessing.Pool(min(workers, len(jobs)) or 1) as pool:
                results = pool.imap(_call, jobs) if ordered else pool.imap_unordered(_call, jobs)
                yield from _report(results, progress)
    finally:
        progress.close()


def _report(results, progress):
    for result in results:
        if result.status == "failed":
            progress.write(f"skipped: {result.message}", file=sys.stderr)
        progress.update(1)
        yield result


def fail_if_skipped(failed, total):
    if failed:
        raise RwsrError(f"{len(failed)} of {total} images could not be processed and were skipped "
                        f"(listed above, first: {failed[0].path})", exit_code=1)
