"""Reading and writing images as numpy arrays (RGB channel order).

read_image_any keeps what the file holds: HxW gray, HxWx2 gray+alpha, HxWx3 RGB
or HxWx4 RGBA, uint8 or uint16 (palette images are expanded to RGB or RGBA).
read_image returns HxWx3 RGB for the networks and training readers: gray is
replicated, alpha is dropped. Both keep the bit depth (uint8 or uint16) so that
callers decide how to quantise.
"""
import io
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


PNG_GRAY_ALPHA = 4  # the IHDR colour type of gray+alpha PNG files


def _png_color_type(data):
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[12:16] == b"IHDR":
        return data[25]
    return None


def decode_image_any(data, name="<bytes>"):
    """Decode encoded image bytes keeping gray, gray+alpha, RGB or RGBA (uint8/uint16, RGB order)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    img = None
    if buffer.size and not _looks_truncated(data):
        img = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RwsrError(f"{name}: cannot read image (unreadable or truncated file); replace or remove it")
    img = _integer_pixels(img, name)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return img
    channels = img.shape[2]
    if channels == 4 and _png_color_type(data) == PNG_GRAY_ALPHA:  # OpenCV expands it to BGRA
        return np.ascontiguousarray(img[:, :, [0, 3]])
    if channels == 3:
        return np.ascontiguousarray(img[:, :, ::-1])
    if channels == 4:
        return np.ascontiguousarray(img[:, :, [2, 1, 0, 3]])
    raise RwsrError(f"{name}: {channels} channels; expected gray, RGB or RGBA")


def _integer_pixels(img, name):
    if img.dtype in (np.uint8, np.uint16):
        return img
    if img.dtype == np.float32:  # e.g. float TIFF/EXR in [0, 1]
        return np.clip(np.rint(img * 65535.0), 0, 65535).astype(np.uint16)
    raise RwsrError(f"{name}: unsupported pixel type {img.dtype}; save it as 8- or 16-bit")


def has_alpha(img):
    return img.ndim == 3 and img.shape[2] in (2, 4)


def color_part(img):
    """The colour channels of an image (HxW gray or HxWx3 RGB), without alpha."""
    if img.ndim == 2 or img.shape[2] == 3:
        return img
    return img[:, :, 0] if img.shape[2] == 2 else img[:, :, :3]


def to_rgb(img):
    """HxWx3 RGB: gray replicated, alpha dropped."""
    color = color_part(img)
    return np.repeat(color[:, :, None], 3, axis=2) if color.ndim == 2 else np.ascontiguousarray(color)


def decode_image(data, name="<bytes>"):
    """Decode encoded image bytes to an RGB uint8/uint16 array (gray replicated, alpha dropped)."""
    return to_rgb(decode_image_any(data, name))


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise RwsrError(f"{path}: cannot open ({err.strerror})") from None


def read_image(path):
    """Read an image file as RGB uint8 or uint16 (HxWx3)."""
    return decode_image(_read_bytes(path), name=path)


def read_image_any(path):
    """Read an image file as it is: gray, gray+alpha, RGB or RGBA, uint8 or uint16."""
    return decode_image_any(_read_bytes(path), name=path)


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


# formats that store 16 bits per channel and an alpha channel
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
ALPHA_EXTENSIONS = (".png", ".tif", ".tiff", ".webp")


def encode_image(img, ext=".png", jpeg_quality=95):
    """Encode a gray, gray+alpha, RGB or RGBA uint8/uint16 image to bytes (PNG by default, lossless).

    Formats without 16 bits (JPEG, WebP) get the image rounded to 8 bits; JPEG drops alpha; WebP
    is written lossless. Gray+alpha is written as such in 8-bit PNG and as RGBA elsewhere.
    """
    ext = ext.lower()
    if img.dtype == np.uint16 and ext not in SIXTEEN_BIT_EXTENSIONS:
        img = to_uint8(img)
    if has_alpha(img) and ext not in ALPHA_EXTENSIONS:
        img = color_part(img)
    if img.ndim == 3 and img.shape[2] == 2:
        if ext == ".png" and img.dtype == np.uint8:
            return _encode_gray_alpha_png(img)
        img = np.concatenate([np.repeat(img[:, :, :1], 3, axis=2), img[:, :, 1:]], axis=2)
    if img.ndim == 3:
        img = img[:, :, [2, 1, 0, 3]] if img.shape[2] == 4 else img[:, :, ::-1]
    params = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101]  # above 100: lossless
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(img), params)
    if not ok:
        raise RwsrError(f"cannot encode image as {ext}")
    return buffer.tobytes()


def _encode_gray_alpha_png(img):
    from PIL import Image  # OpenCV writes 1, 3 or 4 channels only

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img), "LA").save(buffer, "PNG")
    return buffer.getvalue()


def write_image(path, img, jpeg_quality=95):
    """Write an image (see encode_image); the format follows the extension.

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
