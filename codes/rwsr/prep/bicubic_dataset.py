"""Folders of photos to an HR/LR training set (the create_bicubic_dataset command).

Writes OUT/HR and OUT/LR (bicubic_pairs makes each pair) and records the
settings in OUT/create_bicubic_dataset.json: a rerun with the same settings
skips the pairs that already exist, so an interrupted run resumes.
"""
import json
import os

import numpy as np

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from ..utils.image_io import check_unique_stems, list_images
from .batch import check_workers, fail_if_skipped, run_batch
from .bicubic_pairs import make_pair
from .folders import check_output_location, list_input_images, make_folder
from .presets import check_preset_folder, load_preset

SETTINGS_FILE = "create_bicubic_dataset.json"


def check_factors(cleanup_factor, upscale_factor):
    """(cleanup, upscale) as (float, int); the scale must be a whole number."""
    if not np.isfinite(cleanup_factor) or cleanup_factor < 1:
        raise RwsrError(f"--cleanup_factor {cleanup_factor:g}: must be 1 or larger", exit_code=2)
    if not np.isfinite(upscale_factor) or upscale_factor < 1 or upscale_factor != int(upscale_factor):
        raise RwsrError(f"--upscale_factor {upscale_factor:g}: HR sizes must divide by the scale; "
                        "use a whole number such as 2, 3 or 4", exit_code=2)
    return float(cleanup_factor), int(upscale_factor)


def resolve_folders(source, target, output, dataset, artifacts, paths_file):
    """(source, target, output) from a paths.yml preset or from the explicit folders."""
    explicit = [flag for flag, value in (("source", source), ("target", target), ("output", output)) if value]
    if dataset:
        if explicit:
            raise RwsrError(f"--dataset cannot be combined with --{explicit[0]}; use one of the two forms",
                            exit_code=2)
        preset = load_preset(paths_file, dataset, artifacts)
        check_preset_folder(preset, "source")
        check_preset_folder(preset, "target")
        return preset["source"], preset["target"], os.path.join(preset["root"], "generated", artifacts)
    if not (source or target) or not output:
        raise RwsrError("give --dataset NAME, or --output with --source and/or --target", exit_code=2)
    return source, target, output


def _describe_changes(old, new):
    return ", ".join(f"{key} {old.get(key)!r} -> {new.get(key)!r}"
                     for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))


def prepare_output(output, settings, overwrite):
    """Check that existing results belong to these settings; record the settings.

    Skipping finished files is only safe when they were made the same way.
    """
    settings_path = os.path.join(output, SETTINGS_FILE)
    make_folder(output)
    if not overwrite:
        if os.path.isfile(settings_path):
            try:
                with open(settings_path, encoding="utf-8") as handle:
                    old = json.load(handle)
            except (OSError, ValueError):
                old = {}
            if old != settings:
                raise RwsrError(f"{output} was made with other settings ({_describe_changes(old, settings)}); "
                                "pass --overwrite to redo it or choose another --output", exit_code=2)
        elif any(os.path.isdir(os.path.join(output, sub)) and list_images(os.path.join(output, sub))
                 for sub in ("HR", "LR")):
            raise RwsrError(f"{output} already holds images not made by this script; "
                            "pass --overwrite or choose another --output", exit_code=2)
    for sub in ("HR", "LR"):
        make_folder(os.path.join(output, sub))
    atomic_write_text(settings_path, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def create_bicubic_dataset(source=None, target=None, output=None, dataset=None, artifacts="tdsr", paths_file=None,
                           cleanup_factor=2.0, upscale_factor=4, workers=1, overwrite=False):
    """Make the pairs of every source and target photo; prints a one-line summary.

    Either dataset (a preset of paths_file, None: the default file) or output
    with source and/or target. Unreadable photos are skipped and reported; the
    RwsrError for them comes at the end, after the others are done.
    """
    workers = check_workers(workers)
    cleanup, upscale = check_factors(cleanup_factor, upscale_factor)
    source, target, output = resolve_folders(source, target, output, dataset, artifacts, paths_file)
    check_output_location(output, [source, target])
    inputs = {"source": list_input_images(source) if source else [],
              "target": list_input_images(target) if target else []}
    check_unique_stems(inputs["source"] + inputs["target"])
    settings = {"cleanup_factor": cleanup, "upscale_factor": upscale,
                "source": os.path.realpath(source) if source else None,
                "target": os.path.realpath(target) if target else None}
    prepare_output(output, settings, overwrite)
    hr_dir, lr_dir = os.path.join(output, "HR"), os.path.join(output, "LR")
    results = []
    for role, paths in inputs.items():
        if paths:
            task_args = (role, hr_dir, lr_dir, cleanup, upscale, overwrite)
            results.extend(run_batch(make_pair, paths, task_args, workers, desc=f"{role} images"))
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    existing = sum(r.status == "existing" for r in results)
    print(f"{output}: wrote {done} HR/LR pairs, {existing} already done, {len(failed)} skipped")
    fail_if_skipped(failed, len(results))
