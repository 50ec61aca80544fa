"""A folder of images packed into a new LMDB (the create_lmdb command).

The folder is read recursively; each image is stored as PNG bytes of its RGB
pixels (16-bit kept) under its path relative to the folder without extension
(format: rwsr.utils.lmdb_format). The database is built under a temporary
name and renamed when complete, so a failed run never leaves half a database
and an LMDB being replaced stays usable until the new one is finished.
"""
import os
import shutil

import lmdb

from ..utils.errors import RwsrError
from ..utils.image_io import encode_image, read_image
from ..utils.lmdb_format import is_lmdb
from .batch import TaskResult, check_workers, fail_if_skipped, run_batch
from .folders import check_output_location, list_input_images
from .lmdb_writer import LmdbImageWriter


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


def create_lmdb(input_folder, output, workers=1, overwrite=False):
    """Pack every image under input_folder into the LMDB folder output (*.lmdb); prints a summary.

    Unreadable images are skipped, reported, and raise an RwsrError at the end.
    """
    workers = check_workers(workers)
    output = os.path.normpath(output)
    check_output_location(output, [input_folder])
    check_output(output, overwrite)
    keys = keyed_images(input_folder)
    partial = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.partial")
    if os.path.exists(partial):
        shutil.rmtree(partial)  # left by an interrupted run
    try:
        failed, stored, map_size = build(keys, partial, workers)
    except (OSError, lmdb.Error) as err:  # e.g. disk full: leave no half-written database behind
        shutil.rmtree(partial, ignore_errors=True)
        raise RwsrError(f"{output}: writing the LMDB failed ({err}); nothing written") from None
    if not stored:
        shutil.rmtree(partial)
        raise RwsrError(f"{input_folder}: none of the {len(keys)} images could be read; nothing written")
    install(partial, output)
    print(f"{output}: {stored} images, map size {map_size / 2**20:.0f} MiB, {len(failed)} skipped")
    fail_if_skipped(failed, len(keys))
