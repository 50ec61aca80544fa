"""A small "camera" domain built from photographs bundled with scikit-image.

The demo needs real-world-like data without downloads: photos degraded by a
simulated camera play the noisy source domain, other photos stay clean as the
target domain, and held-out photos give LR test inputs with clean HR truth.

Camera model (`CameraModel.degrade`), applied to an sRGB uint8 image:

1. sRGB -> linear light (IEC 61966-2-1 transfer curve): optics and sensor
   act on light, not on gamma-encoded values.
2. Optical blur: Gaussian point spread function, `blur_sigma` pixels.
3. Sensor noise, signal-dependent Poisson-Gaussian (Foi et al., 2008) in its
   Gaussian form: y = x + sqrt(shot_gain * x + read_variance) * n, n ~ N(0, 1)
   independently per pixel and channel; shot_gain is the photon (Poisson)
   part, read_variance the signal-independent read-out part, both on the
   [0, 1] linear scale. Shadows therefore get less noise than highlights in
   linear light, yet more after the sRGB curve, as in real photos.
4. Clip to [0, 1], linear -> sRGB, quantise to 8 bits.
5. JPEG compression at `jpeg_quality` (OpenCV/libjpeg, 4:2:0 chroma).

Noise comes from numpy's PCG64 seeded with (seed, CRC32 of the photo's name),
so each photo's degradation does not depend on which other photos are built.
"""
import json
import os
import zlib
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from ..utils.image_io import decode_image, encode_image, modcrop, write_image
from ..utils.imresize import imresize_uint8

# Which bundled photo goes where. Source: the noisy camera's photos, with flat
# areas (sky, table, walls) at mid and bright tones where collect_noise finds
# noise. Target: clean HR photos. Test: held out from training entirely.
SOURCE_PHOTOS = ("rocket", "coffee", "motorcycle_right")
# Enough targets that an epoch holds at least one batch of the demo configs.
TARGET_PHOTOS = ("motorcycle_left", "immunohistochemistry", "camera", "coins", "retina", "hubble_deep_field",
                 "brick", "grass", "gravel", "moon", "clock")
TEST_PHOTOS = ("astronaut", "chelsea")
DOMAIN_FOLDERS = ("source", "target", "test_LR", "test_HR")
INFO_FILE = "camera.json"


@dataclass(frozen=True)
class CameraModel:
    """Parameters of the simulated camera (see the module doc)."""
    blur_sigma: float = 0.4
    shot_gain: float = 0.003
    read_variance: float = 0.00005
    jpeg_quality: int = 80

    def degrade(self, img, rng):
        """Degrade an sRGB uint8 HxWx3 image; returns uint8 HxWx3."""
        linear = srgb_to_linear(img.astype(np.float64) / 255.0)
        if self.blur_sigma > 0:
            linear = cv2.GaussianBlur(linear, (0, 0), self.blur_sigma, borderType=cv2.BORDER_REFLECT)
        std = np.sqrt(np.maximum(self.shot_gain * linear + self.read_variance, 0.0))
        noisy = np.clip(linear + std * rng.standard_normal(linear.shape), 0.0, 1.0)
        srgb = np.clip(np.rint(linear_to_srgb(noisy) * 255.0), 0, 255).astype(np.uint8)
        if self.jpeg_quality >= 100:
            return srgb
        return decode_image(encode_image(srgb, ".jpg", self.jpeg_quality), name="camera jpeg")


def srgb_to_linear(x):
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


def photo_rng(seed, name):
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def load_photo(name):
    """A bundled scikit-image photo as RGB uint8 (gray replicated; stereo views by side)."""
    from skimage import data  # imported here: only the demo needs scikit-image

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        img = left if name == "motorcycle_left" else right
    else:
        loader = getattr(data, name, None)
        if loader is None:
            raise RwsrError(f"scikit-image has no photo {name!r}; pick one from skimage.data")
        img = loader()
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise RwsrError(f"skimage.data.{name}: expected an 8-bit gray or RGB photo, got {img.dtype} {img.shape}")
    return img


def _write_set(folder, names, make):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        write_image(os.path.join(folder, f"{name}.png"), make(name))


def build_camera_domain(root, seed=0, scale=4, camera=CameraModel(), source=SOURCE_PHOTOS,
                        target=TARGET_PHOTOS, test=TEST_PHOTOS):
    """Write the demo domain under root; return its folders.

    root/source/<name>.png   source photos degraded by `camera` at full size
    root/target/<name>.png   clean target photos
    root/test_HR/<name>.png  clean held-out photos cropped to a multiple of scale
    root/test_LR/<name>.png  their MATLAB-bicubic x1/scale, then degraded by `camera`
    root/camera.json         the camera parameters, seed, scale and photo lists
    Returns {"root", "source", "target", "test_LR", "test_HR", "info"} (absolute paths).
    Files are rewritten on every call; the same seed gives the same bytes.
    """
    overlap = (set(source) | set(target)) & set(test)
    if overlap:
        raise RwsrError(f"demo photos {sorted(overlap)} are both in training and in the held-out test set")
    root = os.path.abspath(root)
    paths = {name: os.path.join(root, name) for name in DOMAIN_FOLDERS}
    _write_set(paths["source"], source, lambda n: camera.degrade(load_photo(n), photo_rng(seed, n)))
    _write_set(paths["target"], target, load_photo)
    _write_set(paths["test_HR"], test, lambda n: modcrop(load_photo(n), scale))
    _write_set(paths["test_LR"], test,
               lambda n: camera.degrade(imresize_uint8(modcrop(load_photo(n), scale), 1.0 / scale),
                                        photo_rng(seed, f"test_LR/{n}")))
    info = {"seed": int(seed), "scale": int(scale), "camera": asdict(camera),
            "source": list(source), "target": list(target), "test": list(test)}
    paths["info"] = os.path.join(root, INFO_FILE)
    atomic_write_text(paths["info"], json.dumps(info, indent=2) + "\n")
    return {"root": root, **paths}
