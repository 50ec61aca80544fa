"""Real-noise injection into LR training batches, on the device that holds the batch.

Every patch is read once into one flat tensor (patches may differ in size; a
per-patch offset, height and width index into it). `inject` picks per sample a
patch and an LR-sized window with the pool's own generator, gathers all windows
of the batch with one `take`, subtracts each window's per-channel mean, adds
the result and clamps to [0, 1]. No Python loop runs per sample.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..options.schema import DATASET, with_defaults
from ..utils import color
from ..utils.errors import RwsrError
from ..utils.image_io import list_images, read_image
from ..utils.logger import get_logger

# Share of the GPU's memory the pool may take before it stays in host memory.
_DEVICE_SHARE = 0.1


def _read_patches(paths):
    with ThreadPoolExecutor(max_workers=4) as pool:  # decoding releases the GIL
        return list(pool.map(read_image, paths))


def _flatten(patches):
    """One flat tensor (uint8, or float32 in [0, 1] when any patch is 16-bit) and its scale."""
    if all(p.dtype == np.uint8 for p in patches):
        parts = [np.ascontiguousarray(p.transpose(2, 0, 1)).reshape(-1) for p in patches]
        return torch.from_numpy(np.concatenate(parts)), 255.0
    parts = [(p.astype(np.float32) / (255.0 if p.dtype == np.uint8 else 65535.0)).transpose(2, 0, 1).reshape(-1)
             for p in patches]
    return torch.from_numpy(np.concatenate(parts)), 1.0


def _storage_device(device, num_bytes, max_device_bytes):
    """The pool lives on the training device unless it is too large for it."""
    if device.type != "cuda":
        return device
    if max_device_bytes is None:
        max_device_bytes = _DEVICE_SHARE * torch.cuda.get_device_properties(device).total_memory
    return device if num_bytes <= max_device_bytes else torch.device("cpu")


class NoisePool:
    """Patches from `folder`; `inject(lr_batch)` adds zero-mean real noise to a training batch.

    crop_size (the LR crop, GT_size / scale) lets construction reject patches
    that are too small; pass manual_seed + rank as seed under DDP so that ranks
    draw different noise.
    """

    def __init__(self, folder, device, seed, crop_size=None, max_device_bytes=None):
        self.folder = folder
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        self.seed = int(seed or 0)
        self.paths = list_images(folder, recursive=True)
        if not self.paths:
            raise RwsrError(f"{folder}: no noise patches found; run preprocess/collect_noise.py "
                            "or fix datasets.train.noise_data", exit_code=2)
        patches = _read_patches(self.paths)
        self._sizes = np.array([p.shape[:2] for p in patches], dtype=np.int64)
        self._fits = set()
        if crop_size is not None:
            self._check_fits(crop_size, crop_size)
        flat, self._value_scale = _flatten(patches)
        self.storage_device = _storage_device(self.device, flat.numel() * flat.element_size(), max_device_bytes)
        self._flat = flat.to(self.storage_device)
        lengths = 3 * self._sizes[:, 0] * self._sizes[:, 1]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._offsets = torch.tensor(offsets, dtype=torch.int64, device=self.storage_device)
        self._heights = torch.from_numpy(np.ascontiguousarray(self._sizes[:, 0])).to(self.storage_device)
        self._widths = torch.from_numpy(np.ascontiguousarray(self._sizes[:, 1])).to(self.storage_device)
        self.generator = torch.Generator(device=self.storage_device)
        self._reseed()

    def __len__(self):
        return len(self.paths)

    def _reseed(self):
        self.generator.manual_seed(self.seed % 2**63)  # any int seed (manual_seed + rank) into the generator range

    def _check_fits(self, height, width):
        """Every patch must hold a height x width window; the first that does not is named."""
        if (height, width) in self._fits:
            return
        too_small = np.flatnonzero((self._sizes[:, 0] < height) | (self._sizes[:, 1] < width))
        if too_small.size:
            first = int(too_small[0])
            patch_h, patch_w = self._sizes[first]
            more = f" (and {too_small.size - 1} more)" if too_small.size > 1 else ""
            raise RwsrError(f"{self.paths[first]}: noise patch {patch_h}x{patch_w} is smaller than the LR crop "
                            f"{height}x{width}{more}; remove it or collect larger patches")
        self._fits.add((height, width))

    def _draw_windows(self, batch, height, width):
        """Patch index and top-left corner per sample, from the pool's generator."""
        gen, dev = self.generator, self.storage_device
        which = torch.randint(len(self.paths), (batch,), generator=gen, device=dev)
        corner = torch.rand((batch, 2), generator=gen, device=dev, dtype=torch.float64)
        rows = self._heights[which] - height + 1
        cols = self._widths[which] - width + 1
        top = torch.minimum((corner[:, 0] * rows).long(), rows - 1)
        left = torch.minimum((corner[:, 1] * cols).long(), cols - 1)
        return which, top, left

    def crops(self, batch, height, width):
        """(batch, 3, height, width) float32 noise windows in [0, 1], before mean removal."""
        which, top, left = self._draw_windows(batch, height, width)
        dev = self.storage_device
        patch_w = self._widths[which].view(-1, 1, 1, 1)
        plane = (self._heights[which] * self._widths[which]).view(-1, 1, 1, 1)
        channel = torch.arange(3, device=dev).view(1, 3, 1, 1)
        row = top.view(-1, 1, 1, 1) + torch.arange(height, device=dev).view(1, 1, -1, 1)
        col = left.view(-1, 1, 1, 1) + torch.arange(width, device=dev).view(1, 1, 1, -1)
        index = self._offsets[which].view(-1, 1, 1, 1) + channel * plane + row * patch_w + col
        windows = self._flat.take(index)
        if windows.device != self.device and self.device.type == "cuda":
            windows = windows.pin_memory()
        windows = windows.to(self.device, non_blocking=True)
        return windows.float() / self._value_scale

    def inject(self, lr_batch):
        """lr_batch (B, C, h, w) in [0, 1], C 3 (RGB) or 1 (Y) -> noisy batch clamped to [0, 1]."""
        batch, channels, height, width = lr_batch.shape
        if channels not in (1, 3):
            raise ValueError(f"noise injection needs 1 or 3 channels, got {channels}")
        self._check_fits(height, width)
        noise = self.crops(batch, height, width).to(lr_batch.device, non_blocking=True)
        if channels == 1:
            # The luma of the datasets' Y images; its offset cancels when the mean is subtracted.
            weights = torch.tensor(color.Y_WEIGHTS, device=noise.device).view(1, 3, 1, 1)
            noise = (noise * weights).sum(dim=1, keepdim=True)
        noise = noise - noise.mean(dim=(2, 3), keepdim=True)
        return (lr_batch + noise.to(lr_batch.dtype)).clamp_(0.0, 1.0)

    def state_dict(self):
        return {"generator": self.generator.get_state(), "device_type": self.storage_device.type,
                "num_patches": len(self.paths)}

    def load_state_dict(self, state):
        if state.get("num_patches") != len(self.paths):
            get_logger().warning("noise pool %s has %d patches, the saved state %s; noise draws will differ "
                                 "from the original run", self.folder, len(self.paths), state.get("num_patches"))
        if state.get("device_type") != self.storage_device.type:
            get_logger().warning("noise pool generator state was saved on %s and cannot be restored on %s; "
                                 "reseeding from the seed", state.get("device_type"), self.storage_device.type)
            self._reseed()
            return
        self.generator.set_state(state["generator"].cpu())


def build_noise_pool(dataset_opt, scale, device, seed, phase, rank=0):
    """The pool for a training dataset with `aug: noise`; None otherwise (no noise outside training)."""
    if phase != "train" or dataset_opt.get("aug") != "noise":
        return None
    if not dataset_opt.get("noise_data"):
        raise RwsrError("datasets.train.noise_data: required when aug is noise", exit_code=2)
    return NoisePool(dataset_opt["noise_data"], device, (seed or 0) + rank,
                     crop_size=with_defaults(DATASET, dataset_opt)["GT_size"] // scale)
