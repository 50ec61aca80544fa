"""Which network a file builds: scales of our RRDB/EDL, metadata before shapes, community models
through spandrel (random weights, nothing downloaded), luma models, network interpolation."""
import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from skimage import data
from torch.nn import functional as F

from arch_helpers import TINY, tiny_generator
from conftest import assert_one_line_error
from rwsr.archs.interpolation import interpolate_files, interpolate_states
from rwsr.archs.network_files import infer_generator_options, read_checkpoint, save_network
from rwsr.archs.state_names import to_basicsr_names
from rwsr.inference import SRInference, image_to_tensor, load_generator, load_inference
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image

PHOTO = data.astronaut()[100:124, 180:212]  # 24 x 32 LR


def run_main(module, capsys, *argv):
    """A CLI's main() in this process; returns (exit code, stdout, stderr) as a subprocess would."""
    try:
        code = module.main([str(arg) for arg in argv])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=code or 0, stdout=captured.out, stderr=captured.err)


def run_test_cli(capsys, *argv):
    from rwsr.cli import test

    return run_main(test, capsys, *argv, "--backend", "torch", "--device", "cpu", "--no_progress", "--no_lpips")


# ---------------------------------------------------------------- scales of our generators
@pytest.mark.parametrize("which", ["RRDB", "RRDBNet"])
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_rrdb_and_edl_at_every_supported_scale(tmp_path, which, scale):
    torch.manual_seed(scale)
    net = tiny_generator(which, scale).eval()
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        y = net(x)[0] if which == "RRDBNet" else net(x)
    assert y.shape == (1, 3, 5 * scale, 7 * scale)
    # the upsampling convolutions keep the official names: x4 two, x2 and x3 one, x1 none
    upconvs = sorted(key for key in net.state_dict() if key.startswith("upconv"))
    assert upconvs == {1: [], 2: ["upconv1.bias", "upconv1.weight"], 3: ["upconv1.bias", "upconv1.weight"],
                       4: ["upconv1.bias", "upconv1.weight", "upconv2.bias", "upconv2.weight"]}[scale]
    path = save_network(net, tmp_path / "G.safetensors", metadata=dict(TINY, which_model_G=which, upscale=scale))
    loaded = load_generator(str(path))
    assert loaded.scale == scale and loaded.options["upscale"] == scale
    with torch.no_grad():
        torch.testing.assert_close(loaded.net(x)[0] if which == "RRDBNet" else loaded.net(x), y)


def test_x3_uses_one_nearest_3x_step():
    torch.manual_seed(0)
    net = tiny_generator("RRDB", 3).eval()
    x = torch.rand(1, 3, 4, 6)
    with torch.no_grad():
        fea = net.conv_first(x)
        fea = fea + net.trunk_conv(net.RRDB_trunk(fea))
        fea = net.lrelu(net.upconv1(F.interpolate(fea, scale_factor=3, mode="nearest")))
        torch.testing.assert_close(net(x), net.conv_last(net.lrelu(net.HRconv(fea))))


def test_unsupported_scale_is_a_one_line_error():
    with pytest.raises(RwsrError, match="upscale: 8 is not supported; RRDBNet upsamples by 1, 2, 3, 4"):
        tiny_generator("RRDB", 8)


def test_shapes_tell_x1_x2_x4_and_only_metadata_tells_x3():
    for scale, seen in ((1, 1), (2, 2), (4, 4), (3, 2)):
        assert infer_generator_options(tiny_generator("RRDB", scale).state_dict())["upscale"] == seen
    state = tiny_generator("RRDB", 3).state_dict()
    assert infer_generator_options(state, {"which_model_G": "RRDB", "upscale": 3})["upscale"] == 3


# ---------------------------------------------------------------- metadata before shapes
def test_complete_metadata_is_used_without_reading_shapes():
    metadata = dict(TINY, which_model_G="RRDB", upscale=3, global_residual=True)
    assert infer_generator_options({"not_rrdb.weight": torch.zeros(1)}, metadata) == metadata


def test_plugin_metadata_is_not_guessed_as_rrdb(tmp_path, capsys):
    """An RRDB-shaped file whose metadata names a plugin class is the plugin's, never read as RRDB."""
    path = save_network(tiny_generator("RRDB", 4), tmp_path / "G.pth",
                        metadata={"which_model_G": "my_nets_h22:TinyNet", "width": 8, "scale": 4})
    state, metadata = read_checkpoint(path)
    assert infer_generator_options(state, metadata) == {"which_model_G": "my_nets_h22:TinyNet", "width": 8}
    write_image(str(tmp_path / "in.png"), PHOTO)
    result = run_test_cli(capsys, "--model", path, "--input", tmp_path / "in.png", "--output", tmp_path / "out")
    assert_one_line_error(result, "my_nets_h22", "--plugin")
    assert "my_nets_h22" not in sys.modules


PLUGIN = """
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, width=4, upscale=2):
        super().__init__()
        self.body = nn.Conv2d(3, 3 * upscale * upscale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale)

    def forward(self, x):
        return self.shuffle(self.body(x))
"""


def test_plugin_file_is_rebuilt_from_its_metadata_only_with_the_plugin(tmp_path, monkeypatch):
    (tmp_path / "h22_plugin_nets.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "h22_plugin_nets", raising=False)
    torch.manual_seed(0)
    net = torch.nn.Sequential()  # the file holds TinyNet's tensors, written as training writes them
    net.body, net.shuffle = torch.nn.Conv2d(3, 12, 3, padding=1), torch.nn.PixelShuffle(2)
    path = save_network(net, tmp_path / "G.pth", metadata={"which_model_G": "h22_plugin_nets:TinyNet", "width": 4,
                                                           "upscale": 2, "scale": 2})
    with pytest.raises(RwsrError, match="--plugin h22_plugin_nets"):
        load_generator(str(path))
    assert "h22_plugin_nets" not in sys.modules
    loaded = load_generator(str(path), plugins=("h22_plugin_nets",))
    x = torch.rand(1, 3, 5, 6)
    assert loaded.scale == 2 and type(loaded.net).__name__ == "TinyNet"
    with torch.no_grad():
        torch.testing.assert_close(loaded.net(x), net(x))


# ---------------------------------------------------------------- community models (spandrel)
def _community_nets():
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    return {
        "compact": (Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4), 4),
        "esrgan_unshuffle_x2": (ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2, shuffle_factor=2), 2),
        "swinir": (SwinIR(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                          upsampler="pixelshuffledirect", img_size=16), 2),
        "hat": (HAT(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2, img_size=16,
                    compress_ratio=3, squeeze_factor=3, num_feat=8), 2),
    }


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    root = tmp_path_factory.mktemp("community")
    files = {}
    for name, (net, scale) in _community_nets().items():
        files[name] = (save_network(net.eval(), str(root / f"{name}.pth")), net.eval(), scale)
    write_image(str(root / "lr" / "astronaut.png"), PHOTO)
    return types.SimpleNamespace(root=root, files=files, lr=str(root / "lr"))


@pytest.mark.parametrize("name", ["compact", "esrgan_unshuffle_x2", "swinir", "hat"])
def test_community_model_runs_as_spandrel_runs_it(community, name):
    """The same SR as spandrel's own call (its padding, clamped), whole and with the x8 ensemble."""
    import spandrel

    path, _, scale = community.files[name]
    descriptor = spandrel.ModelLoader().load_from_file(path)
    lr = image_to_tensor(PHOTO[:19, :23])  # sizes no architecture's multiple divides
    expected = descriptor(lr)
    loaded = load_generator(path)
    assert loaded.options is None and loaded.scale == scale and "spandrel" in loaded.description
    with SRInference(loaded.net, loaded.scale, device="cpu") as inference:
        torch.testing.assert_close(inference.run(lr), expected, atol=1e-5, rtol=0)
    with SRInference(loaded.net, loaded.scale, device="cpu", ensemble=True) as inference:
        assert inference.run(lr).shape == expected.shape


def test_community_model_in_test_py_with_tiles_half_and_metrics(community, tmp_path, capsys):
    path, net, _ = community.files["compact"]
    gt = tmp_path / "gt"
    write_image(str(gt / "astronaut.png"), data.astronaut()[400:496, 180:308])
    lr = tmp_path / "lr"
    from rwsr.utils.imresize import imresize_uint8
    write_image(str(lr / "astronaut.png"), imresize_uint8(read_image(str(gt / "astronaut.png")), 0.25))
    result = run_test_cli(capsys, "--model", path, "--input", lr, "--output", tmp_path / "whole", "--gt", gt)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert np.isfinite(metrics["mean"]["psnr"])
    # a convolutional network with enough context: tiles give the whole-image result
    result = run_test_cli(capsys, "--model", path, "--input", lr, "--output", tmp_path / "tiled", "--tile", "8",
                          "--tile_pad", "8")
    assert result.returncode == 0, result.stderr
    whole, tiled = (read_image(str(tmp_path / folder / "astronaut.png")) for folder in ("whole", "tiled"))
    assert whole.shape == (96, 128, 3) and np.abs(whole.astype(int) - tiled).max() <= 1
    result = run_test_cli(capsys, "--model", path, "--input", lr, "--output", tmp_path / "half", "--half",
                          "--ensemble")
    assert result.returncode == 0, result.stderr
    assert read_image(str(tmp_path / "half" / "astronaut.png")).shape == (96, 128, 3)


def test_community_model_exports_to_onnx(community, tmp_path, capsys):
    from rwsr.cli import export_onnx

    path, _, _ = community.files["esrgan_unshuffle_x2"]
    result = run_main(export_onnx, capsys, "--model", path, "--output", tmp_path / "G.onnx")
    assert result.returncode == 0, result.stderr
    assert "ESRGAN x2" in result.stdout and "max |difference|" in result.stdout
    with load_inference(str(tmp_path / "G.onnx"), backend="onnx", device="cpu") as model:
        lr = image_to_tensor(PHOTO)
        reference = load_generator(path).net
        with torch.no_grad():
            expected = reference(lr).clamp(0, 1)
        torch.testing.assert_close(model.run(lr), expected, atol=1e-4, rtol=0)


def test_window_attention_exports_for_one_input_size_and_runs_on_tiles(community, tmp_path, capsys):
    """SwinIR's traced graph holds its input size: a dynamic export is refused in one line; with
    --input_size the ONNX model runs on tiles of exactly that size (and smaller images padded)."""
    from rwsr.cli import export_onnx

    path, _, _ = community.files["swinir"]
    result = run_main(export_onnx, capsys, "--model", path, "--output", tmp_path / "dynamic.onnx")
    assert_one_line_error(result, "does not run on a 17x31 input", "--input_size")
    result = run_main(export_onnx, capsys, "--model", path, "--output", tmp_path / "G.onnx", "--input_size", "16")
    assert result.returncode == 0, result.stderr
    lr = image_to_tensor(PHOTO)  # 24 x 32: tiles of 8 with 4 pixels of context
    reference = load_generator(path).net
    with load_inference(str(tmp_path / "G.onnx"), {"tile_pad": 4}, backend="onnx", device="cpu") as model:
        assert (model.tile, model.tile_pad) == (8, 4)
        tiled = model.run(lr)
    with SRInference(reference, 2, tile=8, tile_pad=4, device="cpu") as torch_model:
        torch.testing.assert_close(tiled, torch_model.run(lr), atol=1e-4, rtol=0)
    with load_inference(str(tmp_path / "G.onnx"), backend="onnx", device="cpu") as model:
        small = image_to_tensor(PHOTO[:11, :13])  # one padded window
        with torch.no_grad():
            expected = reference(small).clamp(0, 1)
        torch.testing.assert_close(model.run(small), expected, atol=1e-4, rtol=0)


def test_window_attention_onnx_falls_back_to_pytorch(community):
    """SwinIR's traced graph holds its input size: the on-the-fly export is checked and PyTorch runs."""
    path, _, _ = community.files["swinir"]
    with load_inference(path, backend="auto", device="cpu") as model:
        assert isinstance(model.backend.net, torch.nn.Module)


def test_unknown_model_and_unsafe_pickle_are_one_line_errors(tmp_path, capsys):
    write_image(str(tmp_path / "in.png"), PHOTO)
    unknown = tmp_path / "unknown.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4)}, unknown)
    result = run_test_cli(capsys, "--model", unknown, "--input", tmp_path / "in.png", "--output", tmp_path / "out")
    assert_one_line_error(result, "unknown.pth", "not a generator this project or spandrel", "recognises")

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    unsafe = tmp_path / "unsafe.pth"
    with open(unsafe, "wb") as handle:
        pickle.dump({"conv.weight": Payload()}, handle, protocol=2)
    result = run_test_cli(capsys, "--model", unsafe, "--input", tmp_path / "in.png", "--output", tmp_path / "out")
    assert_one_line_error(result, "unsafe.pth", "refused to load")
    assert not marker.exists()


def test_our_files_load_without_spandrel(community, tmp_path, monkeypatch):
    path = save_network(tiny_generator("RRDB", 2), tmp_path / "G.pth")
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import spandrel now fails
    assert load_generator(str(path)).scale == 2
    with pytest.raises(RwsrError, match="pip install spandrel"):
        load_generator(community.files["compact"][0])


def test_half_follows_spandrels_precision_flags(community):
    """SwinIR is marked unsafe in fp16: --half on CUDA runs it in fp32 with a warning; bf16 on the CPU is fine."""
    from arch_helpers import captured_project_log
    from rwsr.inference.loading import _half_supported
    from rwsr.utils.logger import get_logger

    swinir, compact = load_generator(community.files["swinir"][0]), load_generator(community.files["compact"][0])
    assert not swinir.supports_half and swinir.supports_bfloat16 and compact.supports_half
    with captured_project_log() as log:
        assert not _half_supported(swinir, torch.device("cuda"), get_logger())  # decided before any CUDA call
        assert _half_supported(swinir, torch.device("cpu"), get_logger())
        assert _half_supported(compact, torch.device("cuda"), get_logger())
    assert "not supported in fp16; running in fp32" in log.text()


def test_community_model_refuses_our_network_options(community):
    path = community.files["compact"][0]
    with pytest.raises(RwsrError, match="upscales x4, not x2"):
        load_generator(path, {"upscale": 2})
    with pytest.raises(RwsrError, match=r"network_G options \(nf\)"):
        load_generator(path, {"nf": 16})


# ---------------------------------------------------------------- luma (color: Y) models
def _ycbcr(rgb):
    """MATLAB rgb2ycbcr of RGB in [0, 1] (float64), rows Y, Cb, Cr."""
    matrix = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255
    return np.einsum("ij,njhw->nihw", matrix, rgb.astype(np.float64)) + np.array([16, 128, 128]).reshape(1, 3, 1, 1) / 255


def test_luma_model_super_resolves_y_and_upscales_chroma(tmp_path, capsys):
    torch.manual_seed(0)
    net = tiny_generator("RRDB", 2, in_nc=1, out_nc=1).eval()
    path = save_network(net, tmp_path / "G_y.pth", metadata=dict(TINY, which_model_G="RRDB", in_nc=1, out_nc=1,
                                                                   upscale=2))
    loaded = load_generator(str(path))
    rgb = image_to_tensor(PHOTO)
    with torch.no_grad():
        sr = loaded.net(rgb)
        ycbcr_in = torch.from_numpy(_ycbcr(rgb.numpy())).float()
        expected_y = net(ycbcr_in[:, :1])
        expected_cbcr = F.interpolate(ycbcr_in[:, 1:], scale_factor=2, mode="bicubic", align_corners=False)
    ycbcr_out = torch.from_numpy(_ycbcr(sr.numpy())).float()
    torch.testing.assert_close(ycbcr_out[:, :1], expected_y, atol=1e-5, rtol=0)
    torch.testing.assert_close(ycbcr_out[:, 1:], expected_cbcr, atol=1e-5, rtol=0)
    gray = rgb[:, :1].repeat(1, 3, 1, 1)  # a gray image stays gray
    with torch.no_grad():
        out = loaded.net(gray)
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    write_image(str(tmp_path / "lr" / "photo.png"), PHOTO)
    result = run_test_cli(capsys, "--model", path, "--input", tmp_path / "lr", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert read_image(str(tmp_path / "out" / "photo.png")).shape == (48, 64, 3)


# ---------------------------------------------------------------- network interpolation
def _pair(tmp_path, which="RRDBNet", fmt="pth"):
    torch.manual_seed(1)
    first, second = tiny_generator(which, 4), tiny_generator(which, 4)
    metadata = dict(TINY, which_model_G=which, upscale=4, global_residual=False)
    path_a = save_network(first, tmp_path / f"A.{fmt}", metadata=metadata)
    path_b = save_network(second, tmp_path / f"B.{fmt}", metadata=dict(metadata))
    return first, second, str(path_a), str(path_b)


def test_interpolation_is_the_weighted_sum(tmp_path):
    first, second, _, _ = _pair(tmp_path)
    state_a, state_b = first.state_dict(), second.state_dict()
    for alpha in (0.0, 0.3, 1.0):
        blended = interpolate_states(state_a, state_b, alpha)
        assert list(blended) == list(state_a)
        for key, value in blended.items():
            reference = (1 - alpha) * state_a[key].double() + alpha * state_b[key].double()
            torch.testing.assert_close(value.double(), reference, atol=1e-6, rtol=0)
        if alpha in (0.0, 1.0):  # the ends are the models themselves, bit for bit
            ends = state_a if alpha == 0 else state_b
            assert all(torch.equal(blended[key], ends[key]) for key in ends)
    # BasicSR names in B are matched to ours in A; the result keeps A's names
    mixed = interpolate_states(state_a, to_basicsr_names(state_b), 0.5)
    torch.testing.assert_close(mixed["trunk_conv.weight"], (state_a["trunk_conv.weight"] + state_b["trunk_conv.weight"]) / 2)


def test_rwsr_interpolate_writes_the_blend_with_the_first_metadata(tmp_path, capsys):
    from rwsr.cli import interpolate

    first, second, path_a, path_b = _pair(tmp_path, fmt="safetensors")
    out = tmp_path / "C.safetensors"
    result = run_main(interpolate, capsys, path_a, path_b, "--alpha", "0.3", "-o", out)
    assert result.returncode == 0, result.stderr
    state, metadata = read_checkpoint(str(out))
    assert metadata == read_checkpoint(path_a)[1]
    expected = 0.7 * first.state_dict()["conv_first.weight"] + 0.3 * second.state_dict()["conv_first.weight"]
    torch.testing.assert_close(state["conv_first.weight"], expected)
    before = out.read_bytes()
    result = run_main(interpolate, capsys, path_a, path_b, "--alpha", "0.5", "-o", out)
    assert_one_line_error(result, "exists", "--overwrite")
    assert out.read_bytes() == before
    result = run_main(interpolate, capsys, path_a, path_b, "--alpha", "1.5", "-o", tmp_path / "D.pth")
    assert_one_line_error(result, "--alpha", "outside [0, 1]")


def test_interpolating_different_architectures_names_the_first_mismatch(tmp_path, capsys):
    from rwsr.cli import interpolate

    _, _, path_a, _ = _pair(tmp_path)
    wider = save_network(tiny_generator("RRDBNet", 4, nf=16), tmp_path / "wide.pth")
    result = run_main(interpolate, capsys, path_a, wider, "--alpha", "0.5", "-o", tmp_path / "C.pth")
    assert_one_line_error(result, "wide.pth", "tensor conv_first.weight has shape 16x3x3x3, not 8x3x3x3")
    plain = save_network(tiny_generator("RRDB", 4), tmp_path / "plain.pth")
    result = run_main(interpolate, capsys, path_a, plain, "--alpha", "0.5", "-o", tmp_path / "C.pth")
    assert_one_line_error(result, "plain.pth", "tensor branch1.0.block.0.weight is missing")
    x3 = save_network(tiny_generator("RRDBNet", 3), tmp_path / "x3.pth",
                      metadata=dict(TINY, which_model_G="RRDBNet", upscale=3))
    x2 = save_network(tiny_generator("RRDBNet", 2), tmp_path / "x2.pth",
                      metadata=dict(TINY, which_model_G="RRDBNet", upscale=2))
    result = run_main(interpolate, capsys, x2, x3, "--alpha", "0.5", "-o", tmp_path / "C.pth")
    assert_one_line_error(result, "x3.pth", "metadata upscale is 3")
    assert not (tmp_path / "C.pth").exists()


def test_test_py_interp_runs_the_blend_without_writing_it(tmp_path, capsys):
    from rwsr.cli import interpolate

    _, _, path_a, path_b = _pair(tmp_path)
    write_image(str(tmp_path / "lr" / "photo.png"), PHOTO)
    assert run_main(interpolate, capsys, path_a, path_b, "--alpha", "0.3", "-o", tmp_path / "C.pth").returncode == 0
    result = run_test_cli(capsys, "--model", path_a, "--interp", f"{path_b}:0.3", "--input", tmp_path / "lr",
                          "--output", tmp_path / "blend")
    assert result.returncode == 0, result.stderr
    result = run_test_cli(capsys, "--model", tmp_path / "C.pth", "--input", tmp_path / "lr", "--output",
                          tmp_path / "written")
    assert result.returncode == 0, result.stderr
    blend, written = (read_image(str(tmp_path / folder / "photo.png")) for folder in ("blend", "written"))
    assert np.array_equal(blend, written)
    assert sorted(os.listdir(tmp_path)) == ["A.pth", "B.pth", "C.pth", "blend", "lr", "written"]
    result = run_test_cli(capsys, "--model", path_a, "--interp", path_b, "--input", tmp_path / "lr", "--output",
                          tmp_path / "bad")
    assert_one_line_error(result, "--interp", "FILE:ALPHA")
