"""Noise level of an image, and of a pool of noise patches (in 0-255 units).

Estimator (`estimate_noise_sigma`): a robust median absolute deviation of a
high-pass residual, restricted to flat regions.

1. Residual: the image filtered with Immerkaer's Laplacian-difference mask
   [[1,-2,1],[-2,4,-2],[1,-2,1]] / 6 (Immerkaer 1996). The mask cancels
   constant, linear and separable-quadratic content, and turns white noise of
   standard deviation sigma into a residual of standard deviation sigma.
2. Robust scale: sigma = median(|residual|) / 0.6745, the MAD estimate of a
   zero-mean Gaussian's sigma; edges and texture are outliers for the median.
3. Flat-region selection, iterated: texture still biases the median upwards at
   low noise, so only pixels whose structure strength |grad(Gaussian(x))| is
   below `structure_factor` times what noise alone of the current sigma would
   produce are kept, and sigma is re-estimated on them. The structure filter is
   odd (antisymmetric) and the residual mask even, so for white noise the two
   are uncorrelated and the selection does not bias the estimate downwards.
   At least `min_keep` of the pixels are always kept.
4. Pixels whose 3x3 window touches the ends of the value range (clipped
   highlights or shadows) are excluded: clipping truncates the noise there.
5. On integer images the residual is quantised (multiples of 1/6 of a grey
   level), so the median is interpolated inside its bin; a plain median would
   move in steps of a quarter sigma.

Colour images are estimated per channel; the result is the RMS over channels,
i.e. the per-channel noise standard deviation (the same quantity as the
standard deviation of an RGB noise patch with its channel means removed).
On photographs from scikit-image with added Gaussian noise of sigma 5, 10 and
20 it is within about 8% of the true sigma (most of the error at sigma 5 is
the photo's own noise and fine texture; tests/test_noise_estimation.py).
"""
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..utils.errors import RwsrError

MAD_TO_SIGMA = 1.0 / 0.6744897501960817  # 1 / Phi^-1(0.75)
_RESIDUAL_MASK = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0]).astype(np.float32) / 6.0
_STRUCTURE_BLUR = 1.0
_FULL_SCALE = 255.0


def to_unit255(img, data_range=None):
    """(float32 array in 0-255 units, quantisation step in those units; 0 for floats).

    uint8 is taken as is, uint16 is rescaled, floats use data_range (default 255).
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32), 1.0
    if img.dtype == np.uint16:
        step = _FULL_SCALE / 65535.0
        return img.astype(np.float32) * np.float32(step), step
    if np.issubdtype(img.dtype, np.floating):
        scale = _FULL_SCALE / float(data_range) if data_range else 1.0
        return img.astype(np.float32) * np.float32(scale), 0.0
    raise RwsrError(f"noise estimation: unsupported pixel type {img.dtype}; use uint8, uint16 or float")


def _structure_strength(channel):
    blurred = cv2.GaussianBlur(channel, (0, 0), _STRUCTURE_BLUR, borderType=cv2.BORDER_REFLECT)
    grad_x = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    grad_y = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(grad_x * grad_x + grad_y * grad_y)


@functools.lru_cache(maxsize=1)
def _structure_noise_gain():
    """Standard deviation of one gradient component for unit white noise."""
    impulse = np.zeros((33, 33), np.float32)
    impulse[16, 16] = 1.0
    blurred = cv2.GaussianBlur(impulse, (0, 0), _STRUCTURE_BLUR, borderType=cv2.BORDER_CONSTANT)
    kernel = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_CONSTANT)
    return float(np.sqrt(np.sum(kernel.astype(np.float64) ** 2)))


def _unclipped(channel, low=0.0, high=_FULL_SCALE, tolerance=1e-3):
    """True where the 3x3 window holds no value at the ends of the range (0 or 255)."""
    at_end = ((np.abs(channel - low) < tolerance) | (np.abs(channel - high) < tolerance)).astype(np.uint8)
    return cv2.dilate(at_end, np.ones((3, 3), np.uint8)) == 0


def _grouped_median(abs_residual, step):
    """Median of |r| for r quantised to multiples of step, interpolated within its bin.

    On 8-bit images the residual takes values k/6; a plain median would move in
    jumps of 0.25 sigma units. Bin k holds |r| in [k - 1/2, k + 1/2) steps (bin 0:
    [0, 1/2)), and the median is interpolated linearly inside its bin.
    """
    counts = np.bincount(np.rint(abs_residual / step).astype(np.int64))
    if counts.size == 1:  # every residual is exactly zero: a flat, noiseless region
        return 0.0
    below = np.cumsum(counts) - counts
    half = abs_residual.size / 2.0
    k = int(np.searchsorted(np.cumsum(counts), half))
    lower, width = (0.0, 0.5) if k == 0 else (k - 0.5, 1.0)
    return (lower + width * (half - below[k]) / counts[k]) * step


def _mad_sigma(abs_residual, step=0.0):
    if not abs_residual.size:
        return 0.0
    median = _grouped_median(abs_residual, step) if step > 0 else float(np.median(abs_residual))
    return median * MAD_TO_SIGMA


def estimate_channel_sigma(channel, quantum=0.0, structure_factor=1.0, min_keep=0.05, iterations=5):
    """Noise sigma of one HxW float32 channel in 0-255 units (see the module doc).

    quantum: the step between pixel values (1 for 8-bit data, 0 for floats).
    """
    if channel.shape[0] < 3 or channel.shape[1] < 3:
        raise RwsrError(f"noise estimation needs at least 3x3 pixels, got {channel.shape[0]}x{channel.shape[1]}")
    residual = np.abs(cv2.filter2D(channel, cv2.CV_32F, _RESIDUAL_MASK, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    structure = _structure_strength(channel)[1:-1, 1:-1]
    valid = _unclipped(channel)[1:-1, 1:-1]
    if valid.sum() < 9:  # all clipped: nothing tells the noise apart; fall back to every pixel
        valid = np.ones_like(valid)
    residual, structure = residual[valid], structure[valid]
    step = quantum / 6.0  # integer pixels give residuals in multiples of 1/6 of the pixel step
    sigma = _mad_sigma(residual, step)
    floor = np.quantile(structure, min_keep)
    limit_per_sigma = structure_factor * _structure_noise_gain()
    for _ in range(iterations):
        keep = structure <= max(limit_per_sigma * sigma, floor)
        new_sigma = _mad_sigma(residual[keep], step)
        if abs(new_sigma - sigma) <= 1e-3 * max(sigma, 1e-6):
            return new_sigma
        sigma = new_sigma
    return sigma


def estimate_noise_sigma(img, data_range=None, per_channel=False, **kwargs):
    """Noise standard deviation of an image, in 0-255 units.

    img: HxW or HxWxC, uint8, uint16 or float (floats are in 0-255 unless
    data_range says otherwise, e.g. data_range=1.0). Returns the RMS of the
    per-channel estimates, or the array of them when per_channel is true.
    """
    img, quantum = to_unit255(img, data_range)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise RwsrError(f"noise estimation expects HxW or HxWxC, got shape {img.shape}")
    sigmas = np.array([estimate_channel_sigma(np.ascontiguousarray(img[:, :, c]), quantum, **kwargs)
                       for c in range(img.shape[2])])
    return sigmas if per_channel else float(np.sqrt(np.mean(sigmas ** 2)))


def zero_mean_std(patch, data_range=None):
    """Standard deviation of a noise patch after removing each channel's mean (0-255 units).

    This is exactly the magnitude that noise injection adds to an LR image.
    """
    patch = to_unit255(patch, data_range)[0].astype(np.float64)
    if patch.ndim == 2:
        patch = patch[:, :, None]
    centred = patch - patch.mean(axis=(0, 1), keepdims=True)
    return float(np.sqrt(np.mean(centred ** 2)))


@dataclass
class NoisePoolStats:
    """Per-patch noise levels of a noise pool and their summary (0-255 units).

    `sigma` is the estimator's value per patch (comparable with
    estimate_noise_sigma on any other image); `injected_std` is the plain
    zero-mean standard deviation, the amplitude noise injection adds.
    """
    sigma: np.ndarray
    injected_std: np.ndarray

    @property
    def count(self):
        return int(self.sigma.size)

    @property
    def median_sigma(self):
        return float(np.median(self.sigma))

    @property
    def median_injected_std(self):
        return float(np.median(self.injected_std))

    def summary(self):
        p10, p50, p90 = np.percentile(self.sigma, [10, 50, 90])
        return {"patches": self.count, "sigma_median": float(p50), "sigma_p10": float(p10),
                "sigma_p90": float(p90), "sigma_mean": float(np.mean(self.sigma)),
                "injected_std_median": float(np.median(self.injected_std))}


def characterise_noise_pool(patches):
    """NoisePoolStats for an iterable of noise patches (arrays as read from the pool)."""
    sigmas, stds = [], []
    for patch in patches:
        sigmas.append(estimate_noise_sigma(patch))
        stds.append(zero_mean_std(patch))
    if not sigmas:
        raise RwsrError("noise pool is empty: collect noise patches first (preprocess/collect_noise.py)", 2)
    return NoisePoolStats(np.array(sigmas), np.array(stds))
