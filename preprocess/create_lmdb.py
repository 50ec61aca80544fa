"""Pack a folder of images into an LMDB for faster training reads.

    python preprocess/create_lmdb.py --input DIR --output NAME.lmdb [--workers N] [--overwrite]

The folder is read recursively; each image is stored as PNG bytes of its RGB
pixels (16-bit kept) under its path relative to DIR without extension, and
`meta_info.txt` lists `key<TAB>H<TAB>W<TAB>C`. Point `dataroot_GT` /
`dataroot_LQ` at the .lmdb folder to train from it. The database is built
under a temporary name and renamed when complete.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

# _common comes first: it limits BLAS threads before numpy loads.
from _common import (OneLineArgumentParser, TaskResult, check_output_location, check_workers,  # noqa: E402
                     fail_if_skipped, list_input_images, run_batch)

import lmdb  # noqa: E402

from rwsr.data.lmdb_io import LmdbImageWriter, is_lmdb  # noqa: E402
from rwsr.utils.errors import RwsrError, run_cli  # noqa: E402
from rwsr.utils.image_io import encode_image, read_image  # noqa: E402


def build_parser():
    parser = OneLineArgumentParser(prog="create_lmdb.py", description="Pack a folder of images into an LMDB.")
    parser.add_argument("--input", required=True, help="folder of images (read recursively)")
    parser.add_argument("--output", required=True, help="LMDB folder to create, named *.lmdb")
    parser.add_argument("--workers", type=int, default=1, help="processes encoding images (default: 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing LMDB at --output")
    return parser


def image_key(path, root):
    """Relative path without extension, '/'-separated on every OS."""
    return os.path.splitext(os.path.relpath(path, root))[0].replace(os.sep, "/")


def keyed_images(folder):
    """{key: path}; two files with one key (a.png, a.jpg) are an error naming both."""
    keys = {}
    for path in list_input_images(folder, recursive=True):
        key = image_key(path, folder)
        if key in keys:
            raise RwsrError(f"{keys[key]} and {path} both map to key {key!r}; rename or remove one", exit_code=2)
        keys[key] = path
    return keys


def encode(path):
    """Read and PNG-encode one image (a worker task); payload: (bytes, shape)."""
    img = read_image(path)
    return TaskResult(path, "done", payload=(encode_image(img, ".png"), img.shape))


def check_output(output, overwrite):
    if not output.rstrip("/\\").endswith(".lmdb"):
        raise RwsrError(f"--output {output}: name the LMDB folder *.lmdb", exit_code=2)
    if os.path.exists(output):
        if not overwrite:
            raise RwsrError(f"{output} already exists; pass --overwrite to replace it", exit_code=2)
        if not is_lmdb(output):
            raise RwsrError(f"{output} exists and is not an LMDB folder; --overwrite only replaces an LMDB",
                            exit_code=2)


def build(keys, partial, workers):
    """Write every readable image to a new LMDB at `partial`; returns (failed, stored count, map size)."""
    expected = sum(os.path.getsize(path) for path in keys.values())
    writer = LmdbImageWriter(partial, expected_bytes=expected)
    key_of = {path: key for key, path in keys.items()}
    failed = []
    for result in run_batch(encode, sorted(keys.values()), (), workers, desc="images", ordered=True):
        if result.status == "failed":
            failed.append(result)
            continue
        data, shape = result.payload
        writer.put(key_of[result.path], data, shape)
    stored = len(writer.shapes)
    return failed, stored, writer.close()


def install(partial, output):
    """Move the finished LMDB into place; a replaced one is removed only after that."""
    old = None
    if os.path.exists(output):
        old = f"{output.rstrip('/')}.old_{os.getpid()}"
        os.rename(output, old)
    os.rename(partial, output)
    if old:
        shutil.rmtree(old)


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    workers = check_workers(args.workers)
    output = os.path.normpath(args.output)
    check_output_location(output, [args.input])
    check_output(output, args.overwrite)
    keys = keyed_images(args.input)
    partial = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.partial")
    if os.path.exists(partial):
        shutil.rmtree(partial)  # left by an interrupted run of this script
    try:
        failed, stored, map_size = build(keys, partial, workers)
    except (OSError, lmdb.Error) as err:  # e.g. disk full: leave no half-written database behind
        shutil.rmtree(partial, ignore_errors=True)
        raise RwsrError(f"{output}: writing the LMDB failed ({err}); nothing written") from None
    if not stored:
        shutil.rmtree(partial)
        raise RwsrError(f"{args.input}: none of the {len(keys)} images could be read; nothing written")
    install(partial, output)
    print(f"{output}: {stored} images, map size {map_size / 2**20:.0f} MiB, {len(failed)} skipped")
    fail_if_skipped(failed, len(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
