"""Make HR/LR training pairs with MATLAB bicubic downscaling.

    python preprocess/create_bicubic_dataset.py --dataset df2k --artifacts tdsr
    python preprocess/create_bicubic_dataset.py --source SRC --target TGT --output OUT \
        [--cleanup_factor 2] [--upscale_factor 4] [--workers N] [--overwrite]

Source photos (the corrupted domain) are first downscaled by --cleanup_factor,
which averages away most of their noise and compression artifacts; target
photos (the clean domain) are used as they are. Both are cropped from the top
left to a multiple of --upscale_factor and saved as HR; LR is the MATLAB
bicubic downscale of the saved 8-bit HR. Files are PNG named after the input's
stem. A rerun with the same settings skips the pairs that already exist.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

# _common comes first: it limits BLAS threads before numpy loads.
from _common import (OneLineArgumentParser, TaskResult, add_common_arguments, check_output_location,  # noqa: E402
                     check_preset_folder, check_unique_stems, check_workers, fail_if_skipped,
                     list_input_images, load_preset, make_folder, run_batch)
import numpy as np  # noqa: E402

from rwsr.data.imresize import imresize, imresize_uint8, quantize_uint8  # noqa: E402
from rwsr.utils.errors import RwsrError, run_cli  # noqa: E402
from rwsr.utils.fs import atomic_write_text  # noqa: E402
from rwsr.utils.image_io import image_stem, list_images, modcrop, read_image, to_uint8, write_image  # noqa: E402

SETTINGS_FILE = "create_bicubic_dataset.json"


def build_parser():
    parser = OneLineArgumentParser(prog="create_bicubic_dataset.py",
                                   description="Make HR/LR pairs: clean-up downscale of source photos, "
                                               "crop to a multiple of the scale, MATLAB bicubic LR.")
    parser.add_argument("--dataset", help="preset name in paths.yml (df2k, dped)")
    parser.add_argument("--artifacts", default="tdsr", help="preset kind in paths.yml (default: tdsr)")
    parser.add_argument("--source", help="folder of source-domain photos (cleaned up by --cleanup_factor)")
    parser.add_argument("--target", help="folder of target-domain photos (used as they are)")
    parser.add_argument("--output", help="output folder; HR/ and LR/ are written inside it")
    parser.add_argument("--cleanup_factor", type=float, default=2.0,
                        help="downscaling factor that cleans up source photos (default: 2; 1 = none)")
    parser.add_argument("--upscale_factor", type=float, default=4,
                        help="super-resolution scale, a whole number (default: 4)")
    add_common_arguments(parser)
    return parser


def parse_factors(args):
    if not np.isfinite(args.cleanup_factor) or args.cleanup_factor < 1:
        raise RwsrError(f"--cleanup_factor {args.cleanup_factor:g}: must be 1 or larger", exit_code=2)
    upscale = args.upscale_factor
    if not np.isfinite(upscale) or upscale < 1 or upscale != int(upscale):
        raise RwsrError(f"--upscale_factor {upscale:g}: HR sizes must divide by the scale; "
                        "use a whole number such as 2, 3 or 4", exit_code=2)
    return float(args.cleanup_factor), int(upscale)


def resolve_folders(args):
    """(source, target, output) from --dataset presets or from --source/--target/--output."""
    explicit = [flag for flag in ("source", "target", "output") if getattr(args, flag)]
    if args.dataset:
        if explicit:
            raise RwsrError(f"--dataset cannot be combined with --{explicit[0]}; use one of the two forms",
                            exit_code=2)
        preset = load_preset(args.paths, args.dataset, args.artifacts)
        check_preset_folder(preset, "source")
        check_preset_folder(preset, "target")
        output = os.path.join(preset["root"], "generated", args.artifacts)
        return preset["source"], preset["target"], output
    if not (args.source or args.target) or not args.output:
        raise RwsrError("give --dataset NAME, or --output with --source and/or --target", exit_code=2)
    return args.source, args.target, args.output


def clean_up(img, factor):
    """Downscale a source photo: bicubic averaging removes most of its noise and artifacts."""
    if factor == 1:
        return to_uint8(img)
    values = img.astype(np.float64)
    if img.dtype == np.uint16:
        values /= 257.0  # to the 0-255 scale before resizing, rounded once at the end
    return quantize_uint8(imresize(values, 1.0 / factor))


def make_pair(path, role, hr_dir, lr_dir, cleanup, upscale, overwrite):
    """Write HR/<stem>.png and LR/<stem>.png for one photo (a worker task)."""
    name = image_stem(path) + ".png"
    hr_path, lr_path = os.path.join(hr_dir, name), os.path.join(lr_dir, name)
    if not overwrite and os.path.exists(hr_path) and os.path.exists(lr_path):
        return TaskResult(path, "existing")
    img = read_image(path)
    hr = clean_up(img, cleanup) if role == "source" else to_uint8(img)
    hr = modcrop(hr, upscale)
    if hr.shape[0] == 0 or hr.shape[1] == 0:
        raise RwsrError(f"{path}: too small ({img.shape[1]}x{img.shape[0]}) for clean-up /{cleanup:g} "
                        f"and x{upscale}")
    lr = imresize_uint8(hr, 1.0 / upscale)
    write_image(hr_path, hr)
    write_image(lr_path, lr)
    return TaskResult(path, "done")


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


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    workers = check_workers(args.workers)
    cleanup, upscale = parse_factors(args)
    source, target, output = resolve_folders(args)
    check_output_location(output, [source, target])
    inputs = {"source": list_input_images(source) if source else [],
              "target": list_input_images(target) if target else []}
    check_unique_stems(inputs["source"] + inputs["target"])
    settings = {"cleanup_factor": cleanup, "upscale_factor": upscale,
                "source": os.path.realpath(source) if source else None,
                "target": os.path.realpath(target) if target else None}
    prepare_output(output, settings, args.overwrite)
    hr_dir, lr_dir = os.path.join(output, "HR"), os.path.join(output, "LR")
    results = []
    for role, paths in inputs.items():
        if paths:
            task_args = (role, hr_dir, lr_dir, cleanup, upscale, args.overwrite)
            results.extend(run_batch(make_pair, paths, task_args, workers, desc=f"{role} images"))
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    existing = sum(r.status == "existing" for r in results)
    print(f"{output}: wrote {done} HR/LR pairs, {existing} already done, {len(failed)} skipped")
    fail_if_skipped(failed, len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
