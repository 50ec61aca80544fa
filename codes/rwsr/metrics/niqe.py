"""NIQE (Mittal, Soundararajan and Bovik, "Making a completely blind image quality analyzer",
IEEE Signal Processing Letters 20(3), 2013): a quality score without ground truth, lower is better.

The algorithm of the authors' MATLAB release (niqe_release.zip, computequality.m): the image is
cut to whole 96x96 blocks; at two scales (full, then MATLAB bicubic / 2) the mean-subtracted
contrast-normalised coefficients (7x7 Gaussian, sigma 7/6, replicated border) give 18 features
per block (an asymmetric generalised Gaussian fit of the coefficients and of their products with
the 4 neighbours, circularly shifted within the block); the score is the Mahalanobis-like
distance between the multivariate Gaussian of the image's block features and the pristine
model shipped in data/niqe_pristine_params.npz (provenance in data/README.md).

Convention of the SR literature (and of BasicSR's report): RGB images are scored on the Y
channel of MATLAB's rgb2ycbcr, rounded to integers, after `crop_border` pixels are removed.
Computed in double precision. Against MATLAB: BasicSR reports MATLAB R2021a's niqe of its test
image baboon.png as 5.72957338; this code gives 5.72996 (3.9e-4 apart; BasicSR's own code gives
5.72996 as well when run in double precision instead of single, so the gap is precision, not
method). tests/test_niqe.py checks that value within 1e-3.
Every block is processed at once (no Python loop over blocks): a 2-megapixel image took
1.1-1.3 s on a busy 2-core CPU (bench/bench_niqe.py).
"""
import functools
import os

import cv2
import numpy as np
from scipy.special import gamma

from ..utils import color
from ..utils.imresize import imresize, round_half_away

BLOCK = 96
PARAMS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "niqe_pristine_params.npz")
# (row, column) neighbour shifts: horizontal, vertical and the two diagonals
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@functools.lru_cache(maxsize=1)
def pristine_model():
    """(mean (36,), covariance (36, 36)) of the pristine-image features."""
    with np.load(PARAMS_FILE) as data:
        return data["mu"], data["cov"]


@functools.lru_cache(maxsize=1)
def _gamma_table():
    """MATLAB's grid gam = 0.2:0.001:10 and r(gam) = Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g))."""
    grid = 0.2 + 0.001 * np.arange(9801)
    ratio = gamma(2.0 / grid) ** 2 / (gamma(1.0 / grid) * gamma(3.0 / grid))
    return grid, ratio


def gaussian_window(size=7, sigma=7.0 / 6.0):
    """MATLAB's fspecial('gaussian', size, sigma)."""
    x = np.arange(size) - (size - 1) / 2.0
    window = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    return window / window.sum()


def _nearest_ratio_index(values):
    """Per value, the grid index whose ratio is nearest (MATLAB's min over the whole grid: the first
    of equals); r(gam) increases along the grid, so the two neighbours found by bisection decide.
    NaN (a block without negative or positive values) gives index 0, as MATLAB's min does."""
    _, ratio = _gamma_table()
    upper = np.clip(np.searchsorted(ratio, values), 1, len(ratio) - 1)
    lower = upper - 1
    take_upper = (ratio[upper] - values) ** 2 < (ratio[lower] - values) ** 2
    index = np.where(take_upper, upper, lower)
    return np.where(np.isnan(values), 0, index)


def aggd_fit(samples):
    """Asymmetric generalised Gaussian fit of each row of samples (N, M): (alpha, beta_left, beta_right)."""
    negative, positive = samples < 0, samples > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((samples ** 2 * negative).sum(1) / negative.sum(1))
        right_std = np.sqrt((samples ** 2 * positive).sum(1) / positive.sum(1))
        gamma_hat = left_std / right_std
        r_hat = np.abs(samples).mean(1) ** 2 / (samples ** 2).mean(1)
        r_norm = r_hat * (gamma_hat ** 3 + 1) * (gamma_hat + 1) / (gamma_hat ** 2 + 1) ** 2
    grid, _ = _gamma_table()
    alpha = grid[_nearest_ratio_index(r_norm)]
    spread = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, left_std * spread, right_std * spread


def _blocks(img, size):
    """Non-overlapping size x size blocks of img, as (N, size, size) (whole blocks only)."""
    rows, cols = img.shape[0] // size, img.shape[1] // size
    cut = img[:rows * size, :cols * size]
    return cut.reshape(rows, size, cols, size).transpose(0, 2, 1, 3).reshape(rows * cols, size, size)


def block_features(blocks):
    """The 18 NIQE features of each normalised block (N, b, b) -> (N, 18)."""
    flat = blocks.reshape(len(blocks), -1)
    alpha, left, right = aggd_fit(flat)
    features = [alpha, (left + right) / 2.0]
    for shift in SHIFTS:
        products = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(len(blocks), -1)
        alpha, left, right = aggd_fit(products)
        mean = (right - left) * gamma(2.0 / alpha) / gamma(1.0 / alpha)
        features += [alpha, mean, left, right]
    return np.stack(features, axis=1)


def _normalised(img):
    """Mean-subtracted contrast-normalised coefficients (MATLAB imfilter with 'replicate')."""
    window = gaussian_window()
    mu = cv2.filter2D(img, cv2.CV_64F, window, borderType=cv2.BORDER_REPLICATE)
    second = cv2.filter2D(img * img, cv2.CV_64F, window, borderType=cv2.BORDER_REPLICATE)
    sigma = np.sqrt(np.abs(second - mu * mu))
    return (img - mu) / (sigma + 1.0)


def niqe(gray):
    """NIQE of a 2-D image on the 0-255 scale (float). Raises ValueError when fewer than two
    96x96 blocks fit, or have texture (the covariance of the image's features needs two)."""
    img = np.asarray(gray, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"NIQE needs a 2-D (gray or Y) image, got shape {img.shape}")
    rows, cols = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if rows * cols < 2:
        raise ValueError(f"NIQE needs at least two {BLOCK}x{BLOCK} blocks, got a {img.shape[1]}x{img.shape[0]} image")
    img = img[:rows * BLOCK, :cols * BLOCK]
    full = block_features(_blocks(_normalised(img), BLOCK))
    half_img = imresize(img / 255.0, 0.5) * 255.0
    half = block_features(_blocks(_normalised(half_img), BLOCK // 2))
    features = np.concatenate([full, half], axis=1)
    mu_pristine, cov_pristine = pristine_model()
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:  # flat blocks have no negative or positive coefficients to fit
        raise ValueError("NIQE is undefined: fewer than two 96x96 blocks have any texture")
    mu = np.nanmean(features, axis=0)  # MATLAB's nanmean; nancov: complete rows only
    cov = np.cov(complete, rowvar=False)
    difference = mu_pristine - mu
    distance = difference @ np.linalg.pinv((cov_pristine + cov) / 2.0) @ difference
    return float(np.sqrt(distance))


def niqe_of_image(img, crop_border=0):
    """NIQE of a uint8 image: HxWx3 RGB on the Y of MATLAB's rgb2ycbcr (rounded), HxW gray as is;
    `crop_border` pixels removed on each side first."""
    img = np.asarray(img)
    if img.ndim == 3:
        img = round_half_away(color.rgb_to_y(img, value_range=255.0))
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    return niqe(img.astype(np.float64))
