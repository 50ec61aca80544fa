"""What test.py super-resolves: samples from a folder/file (with optional GT) or a dataset.

A sample is loaded only when its turn comes, so one unreadable file is reported
and skipped instead of stopping the run.
"""
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..utils.errors import RwsrError
from ..utils.image_io import check_unique_stems, image_stem, list_images, read_image_any
from ..utils.tensor_image import tensor_to_uint8
from .video import VIDEO_EXTENSIONS, is_video_file


@dataclass
class Loaded:
    name: str  # output file stem
    lr: object  # a numpy image of any layout (files: gray, gray+alpha, RGB, RGBA; 8 or 16 bits) or a
    #             1x3xHxW float32 tensor in [0, 1] (datasets)
    gt: Optional[np.ndarray]  # any layout, or None


@dataclass
class VideoSample:
    """A video file: processed frame by frame by rwsr.inference.video, never loaded whole."""
    label: str
    path: str
    name: str


@dataclass
class Sample:
    label: str  # shown in messages
    load: Callable[[], Loaded]
    name: Optional[str] = None  # known before loading for files


def _gt_lookup(gt_paths, scale):
    """GT path per LR stem: the same stem, or the stem plus a DIV2K-style 'x<scale>' suffix."""
    lookup = {}
    for path in gt_paths:
        stem = image_stem(path)
        lookup.setdefault(stem, path)
        lookup.setdefault(f"{stem}x{scale}", path)
    return lookup


def list_inputs(input_path):
    """LR image paths from a file or a folder; an empty folder is an error (exit 2)."""
    if os.path.isfile(input_path):
        return [input_path]
    if not os.path.isdir(input_path):
        raise RwsrError(f"{input_path}: input does not exist; check --input", exit_code=2)
    videos = [os.path.join(input_path, name) for name in sorted(os.listdir(input_path)) if is_video_file(name)]
    paths = sorted(list_images(input_path) + videos)
    if not paths:
        raise RwsrError(f"{input_path}: no images found (png, jpg, bmp, tif, webp, ...; videos: "
                        f"{', '.join(ext[1:] for ext in VIDEO_EXTENSIONS)}); check --input", exit_code=2)
    check_unique_stems(paths)
    return paths


def _file_loader(lr_path, gt_path):
    def load():
        lr = read_image_any(lr_path)
        gt = read_image_any(gt_path) if gt_path else None
        return Loaded(image_stem(lr_path), lr, gt)

    return load


def file_samples(input_path, gt_folder=None, scale=4):
    """Samples for --input (file or folder) and optional --gt folder (matched by file name)."""
    lr_paths = list_inputs(input_path)
    gt_for = {}
    if gt_folder:
        if not os.path.isdir(gt_folder):
            raise RwsrError(f"{gt_folder}: GT folder does not exist; check --gt", exit_code=2)
        lookup = _gt_lookup(list_images(gt_folder), scale)
        missing = [path for path in lr_paths if image_stem(path) not in lookup and not is_video_file(path)]
        if missing:
            raise RwsrError(f"{os.path.basename(missing[0])}: no GT image with the same name in {gt_folder} "
                            f"({len(missing)} of {len(lr_paths)} LR images unmatched); fix --gt or the names",
                            exit_code=2)
        gt_for = {path: lookup[image_stem(path)] for path in lr_paths if not is_video_file(path)}
    return [VideoSample(path, path, image_stem(path)) if is_video_file(path)
            else Sample(path, _file_loader(path, gt_for.get(path)), image_stem(path)) for path in lr_paths]


def _dataset_loader(dataset, index):
    def load():
        item = dataset[index]
        path = item.get("GT_path") or item["LQ_path"]  # official naming: GT name when GT exists
        gt = tensor_to_uint8(item["GT"]) if "GT" in item else None  # datasets read 8-bit RGB
        return Loaded(image_stem(path), item["LQ"].unsqueeze(0).float(), gt)

    return load


def dataset_samples(dataset, dataset_name):
    """Samples from an rwsr.data dataset (mode LR or LQGT) of an option file."""
    if len(dataset) == 0:
        raise RwsrError(f"datasets.{dataset_name}: no images found; check its dataroot", exit_code=2)
    return [Sample(f"{dataset_name} image {index + 1}", _dataset_loader(dataset, index))
            for index in range(len(dataset))]
