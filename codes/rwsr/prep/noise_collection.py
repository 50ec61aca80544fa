"""A folder of photos to a folder of noise patches (the collect_noise command).

Every photo is cut into patch_size tiles (non-overlapping unless a stride
says otherwise) and its flat tiles are kept (noise_patches). The training
noise pool (`datasets.train.noise_data`) reads the folder. A rerun with
overwrite replaces the patches an earlier run listed in index.csv and leaves
other files alone.
"""
import os

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from ..utils.image_io import check_unique_stems
from .batch import check_workers, fail_if_skipped, run_batch
from .folders import check_output_location, list_input_images, make_folder
from .noise_patches import INDEX_FILE, collect_from_image, format_index, previous_patches
from .presets import check_preset_folder, load_preset

DEFAULTS = {"patch_size": 256, "max_var": 20.0, "min_mean": 0.0}


def resolve_settings(source, output, thresholds, dataset, artifacts, paths_file):
    """(source, output, thresholds) from a paths.yml preset or from the explicit folders.

    thresholds: {patch_size, max_var, min_mean}, None where not given; the
    preset's noise block, then DEFAULTS, fill those in.
    """
    if dataset:
        if source or output:
            raise RwsrError(f"--dataset cannot be combined with --{'source' if source else 'output'}; "
                            "use one of the two forms", exit_code=2)
        preset = load_preset(paths_file, dataset, artifacts)
        check_preset_folder(preset, "source")
        if not preset["source"]:
            raise RwsrError(f"{preset['file']}: {preset['key']}.source is not set; noise comes from source photos",
                            exit_code=2)
        noise = preset["noise"]
        settings = {key: thresholds[key] if thresholds[key] is not None else noise.get(key, DEFAULTS[key])
                    for key in DEFAULTS}
        return preset["source"], os.path.join(preset["root"], str(noise.get("folder", "noise"))), settings
    if not source or not output:
        raise RwsrError("give --dataset NAME, or both --source and --output", exit_code=2)
    settings = {key: thresholds[key] if thresholds[key] is not None else DEFAULTS[key] for key in DEFAULTS}
    return source, output, settings


def check_settings(settings, stride):
    if settings["patch_size"] < 2:
        raise RwsrError(f"--patch_size {settings['patch_size']}: must be at least 2 pixels", exit_code=2)
    if stride is not None and stride < 1:
        raise RwsrError(f"--stride {stride}: must be at least 1", exit_code=2)


def prepare_output(output, overwrite):
    """Create the folder; return (created, earlier patch names). Non-empty needs overwrite."""
    created = not os.path.exists(output)
    make_folder(output)
    if os.listdir(output) and not overwrite:
        raise RwsrError(f"{output} is not empty; pass --overwrite to replace its patches or choose another --output",
                        exit_code=2)
    return created, previous_patches(output)


def no_patch_hint(settings, lowest_var):
    seen = f"the flattest bright tile has variance {lowest_var:.1f}" if lowest_var is not None \
        else f"no tile has a mean above {settings['min_mean']:g}"
    return (f"no tile passed the thresholds (patch_size {settings['patch_size']}, max_var {settings['max_var']:g}, "
            f"min_mean {settings['min_mean']:g}); {seen}: raise --max_var, lower --min_mean or --patch_size")


def remove_stale(output, earlier, kept):
    """Delete the patches of an earlier run that this run did not produce again."""
    for stale in earlier - kept:
        if os.path.basename(stale) != stale:  # only plain names in this folder
            continue
        stale_path = os.path.join(output, stale)
        if os.path.isfile(stale_path):
            os.remove(stale_path)


def collect_noise(source=None, output=None, dataset=None, artifacts="tdsr", paths_file=None, patch_size=None,
                  max_var=None, min_mean=None, stride=None, workers=1, overwrite=False):
    """Collect the noise patches of every photo; prints a one-line summary.

    Either dataset (a preset of paths_file, None: the default file) or source
    and output. Thresholds left None come from the preset or DEFAULTS; stride
    None means patch_size (no overlap). No patch at all is an RwsrError with a
    hint; unreadable photos are skipped, reported, and raise at the end.
    """
    workers = check_workers(workers)
    thresholds = {"patch_size": patch_size, "max_var": max_var, "min_mean": min_mean}
    source, output, settings = resolve_settings(source, output, thresholds, dataset, artifacts, paths_file)
    check_settings(settings, stride)
    check_output_location(output, [source])
    images = list_input_images(source)
    check_unique_stems(images)
    created, earlier = prepare_output(output, overwrite)
    task_args = (output, settings["patch_size"], stride or settings["patch_size"], settings["max_var"],
                 settings["min_mean"])
    results = sorted(run_batch(collect_from_image, images, task_args, workers, desc="noise patches"),
                     key=lambda r: r.path)
    failed = [r for r in results if r.status == "failed"]
    rows = [row for r in results if r.status == "done" for row in r.payload[0]]
    if not rows:
        if created:
            os.rmdir(output)
        if len(failed) == len(results):
            fail_if_skipped(failed, len(results))
        lows = [r.payload[1] for r in results if r.status == "done" and r.payload[1] is not None]
        raise RwsrError(no_patch_hint(settings, min(lows) if lows else None), exit_code=1)
    atomic_write_text(os.path.join(output, INDEX_FILE), format_index(rows))
    remove_stale(output, earlier, {row[0] for row in rows})
    print(f"{output}: {len(rows)} noise patches from {len(results) - len(failed)} images, {len(failed)} skipped")
    fail_if_skipped(failed, len(results))
