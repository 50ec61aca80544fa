"""Tiling, self-ensemble, padding, back-projection and the fast path of SRInference."""
import numpy as np
import pytest
import torch
from skimage import data

from rwsr.archs import build_generator, generator_outputs
from rwsr.inference import SRInference, image_to_tensor, tensor_to_uint8
from rwsr.inference.back_projection import back_project
from rwsr.inference.ensemble import ensemble_forward
from rwsr.inference.tiling import axis_windows, tile_layout, tiled_forward
from rwsr.metrics import calculate_psnr
from rwsr.utils.imresize import imresize_torch


def _generator(which="RRDBNet", nf=16, nb=2, upscale=4, seed=0, gc=8, **extra):
    torch.manual_seed(seed)
    net = build_generator({"which_model_G": which, "in_nc": 3, "out_nc": 3, "nf": nf, "nb": nb, "gc": gc,
                           "upscale": upscale, **extra})
    return net.eval()


def _plain(net, x):
    with torch.no_grad():
        return generator_outputs(net(x))[0].clamp(0, 1)


@pytest.fixture(scope="module")
def demo_net():
    """The CPU demo's generator size (options/demo): nf 32, nb 4, gc 32, global residual."""
    return _generator(nf=32, nb=4, gc=32, global_residual=True)


@pytest.fixture(scope="module")
def small_net():
    return _generator(nf=8, nb=1)


@pytest.fixture(scope="module")
def whole_sr(demo_net, photo):
    """The plain fp32 forward of the whole image."""
    return _plain(demo_net, photo)


@pytest.fixture(scope="module")
def photo():
    """96x96 LR crop of a real photo as 1x3xHxW in [0, 1]."""
    return image_to_tensor(data.astronaut()[80:176, 180:276])


@pytest.mark.parametrize("size,tile,pad", [(96, 32, 10), (100, 32, 12), (33, 32, 16), (20, 32, 4), (7, 3, 2)])
def test_axis_windows_cover_the_axis_with_equal_windows(size, tile, pad):
    spans = axis_windows(size, tile, pad)
    cores = [(start, end) for start, end, _, _ in spans]
    assert cores[0][0] == 0 and cores[-1][1] == size
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))  # a partition, no gaps or overlaps
    assert len({w_end - w_start for _, _, w_start, w_end in spans}) == 1  # one window size: batchable
    for start, end, w_start, w_end in spans:
        assert 0 <= w_start <= start and end <= w_end <= size
        assert start - w_start >= min(pad, start) and w_end - end >= min(pad, size - end)


def test_axis_windows_by_hand():
    assert axis_windows(20, 6, 2) == [(0, 6, 0, 10), (6, 12, 4, 14), (12, 18, 10, 20), (18, 20, 10, 20)]
    assert axis_windows(5, 1, 0) == [(i, i + 1, i, i + 1) for i in range(5)]
    for tile in (0, 20, 25):  # no tiling, or a tile as large as the axis: one window
        assert axis_windows(20, tile, 3) == [(0, 20, 0, 20)]


def test_tiled_forward_sizes_batches_after_the_first_tile_and_reports_progress():
    x = torch.arange(12 * 20, dtype=torch.float32).view(1, 1, 12, 20)
    batches, asked, progress = [], [], []

    def forward(batch):  # "x2 super-resolution" by pixel repetition, in bf16 like an autocast network
        batches.append(batch.shape[0])
        return batch.repeat_interleave(2, -2).repeat_interleave(2, -1).to(torch.bfloat16)

    def batch_size(window_h, window_w):
        asked.append((window_h, window_w))
        return 2.7

    out = tiled_forward(forward, x, 2, 5, 1, batch_size=batch_size, on_batch=lambda *a: progress.append(a))
    tiles = len(tile_layout(12, 20, 5, 1))  # 3 rows x 4 columns
    assert asked == [(7, 7)] and batches == [1, 2, 2, 2, 2, 2, 1] and sum(batches) == tiles == 12
    assert progress == [(1, 12), (3, 12), (5, 12), (7, 12), (9, 12), (11, 12), (12, 12)]
    tiled_forward(forward, x[..., :8, :], 2, 5, 2, batch_size=batch_size)
    assert asked[-1] == (8, 9)  # windows of 5 + 2 * 2 pixels, cut to the 8 rows there are
    assert out.dtype == torch.float32
    expected = x.repeat_interleave(2, -2).repeat_interleave(2, -1).to(torch.bfloat16).float()
    assert torch.equal(out, expected)
    assert _batches_of(forward, x, 0) == [1] * 12  # batch_size < 1 means one tile at a time
    default = []
    tiled_forward(lambda b: default.append(b.shape[0]) or forward(b), x, 2, 5, 1)
    assert default == [1] * 12


def _batches_of(forward, x, batch_size):
    seen = []
    tiled_forward(lambda b: seen.append(b.shape[0]) or forward(b), x, 2, 5, 1, batch_size=batch_size)
    return seen


def test_tiled_fast_path_matches_whole_image(demo_net, photo, whole_sr):
    """Tiles of 32 with 10 pixels of context, batched, channels_last: >= 50 dB and within one 8-bit level."""
    tiled = SRInference(demo_net, 4, tile=32, tile_pad=10, tile_batch=3, channels_last=True, device="cpu").run(photo)
    assert len(tile_layout(96, 96, 32, 10)) == 9
    assert tiled.shape == whole_sr.shape == (1, 3, 384, 384)
    tiled, plain = tensor_to_uint8(tiled), tensor_to_uint8(whole_sr)
    assert calculate_psnr(tiled, plain) >= 50.0
    assert np.abs(tiled.astype(np.int16) - plain.astype(np.int16)).max() <= 1


def test_tile_context_matters_and_batches_do_not(small_net, photo):
    x = photo[..., :40, :40]
    whole = SRInference(small_net, 4, device="cpu").run(x)
    seams = SRInference(small_net, 4, tile=16, tile_pad=0, device="cpu").run(x)
    single = SRInference(small_net, 4, tile=16, tile_pad=8, tile_batch=1, device="cpu").run(x)
    batched = SRInference(small_net, 4, tile=16, tile_pad=8, tile_batch=4, device="cpu").run(x)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    # without context the seams show: the stitching is really exercised
    assert torch.abs(seams - whole).max() > 2 * torch.abs(single - whole).max()


def test_ensemble_is_the_mean_over_flips_and_rotations(small_net, photo):
    demo_net = small_net
    x = photo[..., :20, :28]  # not square: rotations change the shape
    outputs = []
    for k in range(4):
        for flip in (False, True):
            xt = torch.rot90(x.flip(-1) if flip else x, k, dims=(-2, -1))
            y = torch.rot90(_plain_unclamped(demo_net, xt), -k, dims=(-2, -1))
            outputs.append(y.flip(-1) if flip else y)
    expected = torch.stack(outputs).mean(0).clamp(0, 1)
    result = SRInference(demo_net, 4, ensemble=True, device="cpu").run(x)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)
    assert torch.abs(result - _plain(demo_net, x)).max() > 1e-3  # the ensemble changes the output


def _plain_unclamped(net, x):
    with torch.no_grad():
        return generator_outputs(net(x))[0]


def test_ensemble_with_tiles_matches_whole_ensemble(small_net, photo):
    x = photo[..., :32, :32]
    forward = lambda batch: _plain_unclamped(small_net, batch)  # noqa: E731
    whole = ensemble_forward(forward, x).clamp(0, 1)
    tiled = SRInference(small_net, 4, tile=16, tile_pad=10, ensemble=True, device="cpu").run(x)
    assert calculate_psnr(tensor_to_uint8(tiled), tensor_to_uint8(whole)) >= 50.0


def test_default_settings_are_the_plain_forward(small_net, photo):
    x = photo[..., :24, :32]
    np.testing.assert_array_equal(tensor_to_uint8(SRInference(small_net, 4, device="cpu").run(x)),
                                  tensor_to_uint8(_plain(small_net, x)))


@pytest.mark.parametrize("which,upscale", [("RRDB", 2), ("RRDBNet", 4)])
def test_small_images_are_padded_and_cropped_back(which, upscale):
    net = _generator(which, nf=8, nb=1, upscale=upscale)
    x = image_to_tensor(data.coffee()[100:103, 200:205])  # 3x5, smaller than the network wants
    result = SRInference(net, upscale, device="cpu").run(x)
    assert result.shape == (1, 3, 3 * upscale, 5 * upscale)
    padded = torch.nn.functional.pad(x, (0, 3, 0, 2), mode="reflect")  # 8 wide, then 5 high
    padded = torch.nn.functional.pad(padded, (0, 0, 0, 3), mode="reflect")
    expected = _plain(net, padded)[..., :3 * upscale, :5 * upscale]
    torch.testing.assert_close(result, expected, atol=1e-6, rtol=0)


def test_back_projection_makes_sr_consistent_with_lr(photo):
    lr = photo[..., :32, :32]
    sr = torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")  # inconsistent on purpose
    error_before = (imresize_torch(sr, 0.25) - lr).abs().mean()
    once = back_project(sr, lr, 4, iterations=1, weight=1.0)
    expected = (sr + imresize_torch(lr - imresize_torch(sr, 0.25), 4.0)).clamp(0, 1)
    torch.testing.assert_close(once, expected, atol=1e-6, rtol=0)
    five = back_project(sr, lr, 4, iterations=5)
    error_after = (imresize_torch(five, 0.25) - lr).abs().mean()
    assert error_after < 0.3 * error_before


def test_half_on_the_cpu_is_bf16_autocast_close_to_fp32():
    from rwsr.inference.backends import TorchForward
    torch.manual_seed(0)
    net = build_generator({"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8,
                           "upscale": 4}).eval()
    seen = []
    net.conv_first.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    x = torch.rand(1, 3, 12, 12)
    full = TorchForward(net, "cpu")(x)
    half = TorchForward(net, "cpu", half=True)(x)
    assert seen == [torch.float32, torch.bfloat16] and half.dtype == torch.float32
    assert (full - half).abs().max() < 0.05 and not torch.equal(full, half)
