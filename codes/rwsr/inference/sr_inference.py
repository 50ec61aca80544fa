"""SRInference: one LR image in, one SR image out, with tiling, ensemble and back-projection."""
import torch

from ..utils.logger import get_logger
from ..utils.tensor_image import image_to_tensor, tensor_to_uint8  # noqa: F401 (re-exported)

from .back_projection import back_project
from .backends import TorchForward, resolve_device
from .ensemble import EnsembleForward
from .padding import MIN_INPUT_SIZE, crop_to, pad_to_min_size
from .tiling import needs_tiling, tiled_forward

MIN_OOM_TILE = 16  # below this an out-of-memory error is passed on


def smaller_tile(tile, height, width):
    """The next tile size after running out of memory: half the tile (half the image when whole),
    or None when it would fall below MIN_OOM_TILE."""
    smaller = (tile if tile > 0 and needs_tiling(height, width, tile) else max(height, width)) // 2
    return smaller if smaller >= MIN_OOM_TILE else None


class SRInference:
    """Super-resolve 1xCxHxW float images in [0, 1].

    net: an nn.Module generator, or a forward callable (e.g. OnnxForward).
    tile: LR tile size (0: whole image); tile_pad: LR context around each tile.
    tile_batch: tiles per batch; 0 picks it (measured free memory on CUDA, once per tile shape; 1 on CPU).
    Out of GPU memory: the image is retried with tiles of half the size (half the image when it ran
    whole) until it fits; the tile that fitted is kept for the following images, and logged.
    ensemble: x8 self-ensemble; back_projection: iterations of back-projection (0: off).
    half, channels_last, compile: see TorchForward.
    resources: objects with cleanup() (temporary folders) released by close().
    runtime: what runs the model, as load_inference logs it (metrics.json's `runtime`).
    """

    def __init__(self, net, scale, tile=0, tile_pad=16, ensemble=False, half=False, device="auto",
                 back_projection=0, back_projection_weight=1.0, tile_batch=0,
                 channels_last=False, compile=False, resources=(), runtime=None):
        if tile < 0 or tile_pad < 0:
            raise ValueError(f"tile ({tile}) and tile_pad ({tile_pad}) must not be negative")
        self.scale = int(scale)
        self.tile, self.tile_pad, self.tile_batch = int(tile), int(tile_pad), int(tile_batch)
        self.back_projection = int(back_projection)
        self.back_projection_weight = float(back_projection_weight)
        if isinstance(net, torch.nn.Module):
            self.backend = TorchForward(net, resolve_device(device), half, channels_last, compile)
        else:
            self.backend = net
        self.device = self.backend.device
        self.forward = EnsembleForward(self.backend) if ensemble else self.backend
        self.resources = list(resources)
        self.runtime = runtime
        self._batch_sizes = {}  # (window_h, window_w) -> tiles per batch, measured once

    def close(self):
        for resource in self.resources:
            resource.cleanup()
        self.resources = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _batch_size(self, window_h, window_w):
        if self.tile_batch:
            return self.tile_batch
        key = (window_h, window_w)
        if key not in self._batch_sizes:
            self._batch_sizes[key] = self.backend.measure_batch(window_h, window_w)
        return self._batch_sizes[key]

    def run(self, lr, on_tiles=None):
        """SR of lr (1xCxHxW float in [0, 1], any device) as float32 in [0, 1].

        Whole images run on the backend's device; tiled images stay on the CPU
        (tiles are moved one batch at a time), so device memory follows the tile.
        """
        with torch.inference_mode():
            return self._run(lr, on_tiles)

    def _run(self, lr, on_tiles):
        padded, size = pad_to_min_size(lr.float(), MIN_INPUT_SIZE)
        while True:
            try:
                sr = self._forward_image(padded, on_tiles)
                break
            except torch.cuda.OutOfMemoryError:
                if not self._shrink_tile(padded.shape[-2], padded.shape[-1]):
                    raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # the failed attempt's tensors are released by now
        sr = crop_to(sr, size, self.scale)
        if self.back_projection:
            sr = back_project(sr, lr, self.scale, self.back_projection, self.back_projection_weight)
        return sr.clamp_(0.0, 1.0)

    def _forward_image(self, padded, on_tiles):
        if needs_tiling(padded.shape[-2], padded.shape[-1], self.tile):
            padded = padded.cpu()
            return tiled_forward(self.forward, padded, self.scale, self.tile, self.tile_pad,
                                 batch_size=self._batch_size, out_device=padded.device, on_batch=on_tiles)
        return self.forward(padded.to(self.device, non_blocking=True))

    def _shrink_tile(self, height, width):
        """After an out-of-memory error: halve the tile; False when it cannot shrink further."""
        tile = smaller_tile(self.tile, height, width)
        if tile is None:
            return False
        before = f"tile {self.tile}" if needs_tiling(height, width, self.tile) else "the whole image"
        get_logger().warning("out of GPU memory with %s (%dx%d); retrying with --tile %d", before, width, height, tile)
        self.tile = tile
        self._batch_sizes.clear()
        return True
