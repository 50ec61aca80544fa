"""Reading and writing images as RGB numpy arrays.

Every reader returns HxWx3 RGB: gray is replicated, alpha is dropped, and the
bit depth (uint8 or uint16) is kept so that callers decide how to quantise.
"""
import os

import cv2
import numpy as np

from .errors import RwsrError

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_file(name):
    # dot files are temporary or hidden files (e.g. an interrupted write), never data
    return not os.path.basename(name).startswith(".") and name.lower().endswith(IMG_EXTENSIONS)


def list_images(folder, recursive=False):
    """Sorted image paths in folder (recursively when asked)."""
    if not os.path.isdir(folder):
        raise RwsrError(f"{folder}: not a folder; check the path", exit_code=2)
    paths = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            paths.extend(os.path.join(root, f) for f in sorted(files) if is_image_file(f))
    else:
        paths = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if is_image_file(f)]
    return paths


def image_stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def check_unique_stems(paths):
    """Outputs are named by stem: two inputs with one stem would overwrite each other (exit 2)."""
    seen = {}
    for path in paths:
        stem = image_stem(path)
        if stem in seen:
            raise RwsrError(f"{seen[stem]} and {path} share the name {stem!r}; rename one of them", exit_code=2)
        seen[stem] = path


def _looks_truncated(data):
    """Detect files that OpenCV would decode partially without an error."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-16:]
    if data[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in data[-32:]
    return False


def decode_image(data, name="<bytes>"):
    """Decode encoded image bytes to an RGB uint8/uint16 array."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    img = None
    if buffer.size and not _looks_truncated(data):
        img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RwsrError(f"{name}: cannot read image (unreadable or truncated file); replace or remove it")
    return _to_rgb(img, name)


def _to_rgb(img, name):
    if img.dtype not in (np.uint8, np.uint16):
        if img.dtype == np.float32:  # e.g. float TIFF/EXR in [0, 1]
            img = np.clip(np.rint(img * 65535.0), 0, 65535).astype(np.uint16)
        else:
            raise RwsrError(f"{name}: unsupported pixel type {img.dtype}; save it as 8- or 16-bit")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    channels = img.shape[2]
    if channels == 1:
        return np.repeat(img, 3, axis=2)
    if channels == 3:
        return np.ascontiguousarray(img[:, :, ::-1])
    if channels == 4:
        return np.ascontiguousarray(img[:, :, 2::-1])
    raise RwsrError(f"{name}: {channels} channels; expected gray, RGB or RGBA")


def read_image(path):
    """Read an image file as RGB uint8 or uint16 (HxWx3)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise RwsrError(f"{path}: cannot open ({err.strerror})") from None
    return decode_image(data, name=path)


def modcrop(img, scale):
    """Crop the bottom/right so that height and width are multiples of scale."""
    height, width = img.shape[:2]
    return img[: height - height % scale, : width - width % scale]


def to_uint8(img):
    """Quantise a uint8/uint16 image to uint8 (rounded)."""
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.rint(img.astype(np.float64) / 257.0).astype(np.uint8)
    raise TypeError(f"expected uint8 or uint16, got {img.dtype}")


def to_float32(img):
    """uint8/uint16 image to float32 in [0, 1]."""
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return img.astype(np.float32) / np.float32(scale)


def read_image_uint8(path):
    return to_uint8(read_image(path))


def encode_image(img, ext=".png", jpeg_quality=95):
    """Encode an RGB (or gray) uint8 image to bytes (PNG by default, lossless)."""
    bgr = img[:, :, ::-1] if img.ndim == 3 else img
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext.lower() in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise RwsrError(f"cannot encode image as {ext}")
    return buffer.tobytes()


def write_image(path, img, jpeg_quality=95):
    """Write an RGB uint8 image; the format follows the extension.

    Written to a temporary name first and renamed, so an interrupted run never
    leaves a half-written image that a rerun would mistake for a finished one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    data = encode_image(img, os.path.splitext(path)[1] or ".png", jpeg_quality)
    tmp_path = os.path.join(folder, f".tmp_{os.getpid()}_{os.path.basename(path)}.partial")
    with open(tmp_path, "wb") as handle:
        handle.write(data)
    os.replace(tmp_path, path)
