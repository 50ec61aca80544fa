"""Input listing and output-folder checks shared by the data-preparation commands."""
import os

from ..utils.errors import RwsrError
from ..utils.fs import is_inside
from ..utils.image_io import list_images


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
