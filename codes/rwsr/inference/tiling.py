"""Tiled forward: overlapping tiles of equal size, cropped and stitched.

Every tile window has the same size, so tiles can be batched and a compiled
network sees one shape. Windows next to the border are shifted inside the
image instead of being cut, which gives them more context, never less.
Peak memory of the network depends on the window size and the batch, not on
the image size.
"""
import torch


def axis_windows(size, tile, pad):
    """Tiles along one axis as (core_start, core_end, window_start, window_end).

    Cores partition [0, size) into steps of `tile`; each window holds its core
    plus up to `pad` pixels of context on each side, all windows equally long.
    """
    if tile <= 0 or tile >= size:
        return [(0, size, 0, size)]
    window = min(size, tile + 2 * pad)
    spans = []
    for start in range(0, size, tile):
        end = min(start + tile, size)
        window_start = min(max(start - pad, 0), size - window)
        spans.append((start, end, window_start, window_start + window))
    return spans


def tile_layout(height, width, tile, pad):
    """All tiles of an image as ((row span), (column span)) pairs, row by row."""
    rows = axis_windows(height, tile, pad)
    cols = axis_windows(width, tile, pad)
    return [(row, col) for row in rows for col in cols]


def needs_tiling(height, width, tile):
    return tile > 0 and (height > tile or width > tile)


def _paste(output, result, row, col, scale):
    core_top, core_bottom, win_top, _ = row
    core_left, core_right, win_left, _ = col
    src = result[..., (core_top - win_top) * scale:(core_bottom - win_top) * scale,
                 (core_left - win_left) * scale:(core_right - win_left) * scale]
    output[..., core_top * scale:core_bottom * scale, core_left * scale:core_right * scale] = src


def tiled_forward(forward, x, scale, tile, pad, batch_size=1, out_device=None, on_batch=None):
    """Super-resolve x (1xCxHxW) tile by tile with forward(batch) -> batch of SR tiles.

    batch_size may be an int or a callable(window_h, window_w) -> int, asked
    after the first tile (so a CUDA caller can size batches from measured memory).
    The stitched output (float32) lives on out_device (default: x's device).
    on_batch(done, total) is called after each batch (progress reporting).
    """
    if x.shape[0] != 1:
        raise ValueError(f"tiled_forward expects one image, got a batch of {x.shape[0]}")
    _, _, height, width = x.shape
    tiles = tile_layout(height, width, tile, pad)
    output = None
    index, size = 0, 1  # the first batch is a single tile, so memory can be measured
    while index < len(tiles):
        group = tiles[index:index + size]
        batch = torch.cat([x[..., r[2]:r[3], c[2]:c[3]] for r, c in group])
        result = forward(batch)
        if output is None:
            output = torch.empty((1, result.shape[1], height * scale, width * scale),
                                 dtype=torch.float32, device=out_device or x.device)
            size = batch_size(batch.shape[-2], batch.shape[-1]) if callable(batch_size) else batch_size
            size = max(1, int(size))
        result = result.to(output.device, torch.float32)
        for k, (row, col) in enumerate(group):
            _paste(output, result[k:k + 1], row, col, scale)
        index += len(group)
        if on_batch is not None:
            on_batch(index, len(tiles))
    return output
