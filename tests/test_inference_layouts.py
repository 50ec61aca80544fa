"""Nothing lost in inference: alpha, 16 bits, gray, palette and gray+alpha images, webp/tif output;
--outscale; out-of-memory fallback to tiles; process-wide settings left alone; suffix of an option file."""
import io
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from arch_helpers import captured_project_log
from conftest import CODES
from rwsr.archs import build_generator
from rwsr.inference import SRInference, super_resolve_folder
from rwsr.inference.channels import ImageUpscaler, array_to_tensor, tensor_to_array
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import decode_image, read_image, read_image_any, write_image
from rwsr.utils.imresize import imresize, imresize_torch_to

ARCH = {"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8, "upscale": 4}
LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_generator(dict(ARCH)).eval()


@pytest.fixture(scope="module")
def inference(net):
    return SRInference(net, 4, device="cpu")


def _rgb_photo():
    return np.ascontiguousarray(data.astronaut()[100:132, 180:220])  # 40x32 RGB


def _alpha_photo():
    return np.ascontiguousarray(data.camera()[200:232, 250:290])  # a real gray photo as alpha


def _sr_float(inference, rgb_float):
    """SR of an HxWx3 float64 image in [0, 1] as float64 HxWx3 (the reference path: plain SRInference)."""
    tensor = torch.from_numpy(rgb_float.transpose(2, 0, 1).astype(np.float32)).unsqueeze(0)
    return inference.run(tensor)[0].permute(1, 2, 0).double().numpy()


def _png_bytes(image, mode=None):
    buffer = io.BytesIO()
    (Image.fromarray(image, mode) if mode else image).save(buffer, "PNG")
    return buffer.getvalue()


def test_rgba_keeps_alpha_bicubic_and_model(inference):
    rgba = np.dstack([_rgb_photo(), _alpha_photo()])
    colour = tensor_to_array(inference.run(array_to_tensor(rgba[..., :3])), np.uint8)
    # bicubic: MATLAB imresize of the alpha channel (numpy implementation, float64), rounded
    out = ImageUpscaler(inference, alpha="bicubic").run(rgba)
    assert out.shape == (128, 160, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], colour)
    expected_alpha = np.clip(np.floor(imresize(rgba[..., 3] / 255.0, 4) * 255.0 + 0.5), 0, 255)
    assert np.abs(out[..., 3].astype(int) - expected_alpha).max() <= 1
    # model: the alpha through the generator as a gray image, luma of its RGB output
    model = ImageUpscaler(inference, alpha="model").run(rgba)
    np.testing.assert_array_equal(model[..., :3], colour)
    alpha_rgb = np.repeat(rgba[..., 3:] / 255.0, 3, axis=2)
    expected_model = np.floor(_sr_float(inference, alpha_rgb) @ LUMA * 255.0 + 0.5)
    assert np.abs(model[..., 3].astype(int) - expected_model).max() <= 1
    assert np.abs(model[..., 3].astype(int) - out[..., 3]).mean() > 1  # the two modes differ


def test_sixteen_bit_is_computed_in_float_and_written_as_sixteen_bit(inference, tmp_path):
    # a genuine 16-bit photo: a MATLAB-bicubic downscale of a real photo, kept at 16 bits
    rgb16 = np.clip(np.floor(imresize(data.astronaut()[100:164, 180:260] / 255.0, 0.5) * 65535 + 0.5), 0,
                    65535).astype(np.uint16)
    out = ImageUpscaler(inference).run(rgb16)
    assert out.dtype == np.uint16 and out.shape == (128, 160, 3)
    expected = np.floor(_sr_float(inference, rgb16 / 65535.0) * 65535.0 + 0.5)
    assert np.abs(out.astype(np.int64) - expected).max() <= 1
    assert np.count_nonzero(out % 257) > out.size // 2  # not 8-bit values scaled up
    for ext in ("png", "tif"):
        write_image(str(tmp_path / f"x.{ext}"), out)
        back = read_image_any(str(tmp_path / f"x.{ext}"))
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, out)


def test_gray_stays_gray(inference):
    gray = _alpha_photo()
    out = ImageUpscaler(inference).run(gray)
    assert out.shape == (128, 160) and out.dtype == np.uint8
    expected = np.floor(_sr_float(inference, np.repeat(gray[..., None] / 255.0, 3, axis=2)) @ LUMA * 255 + 0.5)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_palette_and_gray_alpha_files_read_correctly(tmp_path):
    rgb = _rgb_photo()
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    (tmp_path / "p.png").write_bytes(_png_bytes(palette))
    np.testing.assert_array_equal(read_image_any(str(tmp_path / "p.png")), np.asarray(palette.convert("RGB")))
    gray, alpha = _alpha_photo(), _rgb_photo()[..., 0]
    la = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    (tmp_path / "la.png").write_bytes(_png_bytes(la))
    read = read_image_any(str(tmp_path / "la.png"))
    assert read.shape == gray.shape + (2,)
    np.testing.assert_array_equal(read[..., 0], gray)
    np.testing.assert_array_equal(read[..., 1], alpha)
    # training readers: RGB, the gray replicated (never the alpha plane as a colour)
    np.testing.assert_array_equal(read_image(str(tmp_path / "la.png")), np.repeat(gray[..., None], 3, axis=2))
    # written back as gray+alpha PNG
    write_image(str(tmp_path / "la_out.png"), read)
    assert Image.open(tmp_path / "la_out.png").mode == "LA"
    np.testing.assert_array_equal(read_image_any(str(tmp_path / "la_out.png")), read)


def test_training_readers_keep_sixteen_bits(tmp_path):
    from rwsr.data.transforms import to_float32

    rgb16 = (data.astronaut()[:24, :24].astype(np.uint16) * 257 + 11)
    write_image(str(tmp_path / "a.png"), rgb16)
    img = read_image(str(tmp_path / "a.png"))
    assert img.dtype == np.uint16
    np.testing.assert_allclose(to_float32(img), rgb16 / 65535.0, atol=1e-7)
    assert decode_image(_png_bytes(_alpha_photo(), "L")).shape == (32, 40, 3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, net):
    root = tmp_path_factory.mktemp("layouts")
    rgb, alpha = _rgb_photo(), _alpha_photo()
    write_image(str(root / "in" / "rgba.png"), np.dstack([rgb, alpha]))
    write_image(str(root / "in" / "gray.png"), alpha)
    write_image(str(root / "in" / "deep.png"), rgb.astype(np.uint16) * 257 + 3)
    return types.SimpleNamespace(root=root, inputs=str(root / "in"), net=net)


@pytest.mark.parametrize("ext", ["png", "tif", "webp"])
def test_folder_keeps_every_layout_in_each_format(folder, inference, ext):
    out = folder.root / f"out_{ext}"
    result = super_resolve_folder(inference, folder.inputs, str(out), ext=ext, progress=False, niqe=False)
    assert not result.failures and len(result.written) == 3
    rgba = read_image_any(str(out / f"rgba.{ext}"))
    gray = read_image_any(str(out / f"gray.{ext}"))
    deep = read_image_any(str(out / f"deep.{ext}"))
    assert rgba.shape == (128, 160, 4)
    if ext == "webp":  # WebP has no gray mode: three equal channels
        assert gray.shape == (128, 160, 3) and (gray == gray[..., :1]).all()
    else:
        assert gray.shape == (128, 160)
    assert deep.dtype == (np.uint8 if ext == "webp" else np.uint16)
    expected = ImageUpscaler(inference).run(read_image_any(os.path.join(folder.inputs, "rgba.png")))
    np.testing.assert_array_equal(rgba, expected)  # lossless in all three formats


def test_jpg_drops_alpha_with_a_warning(folder, inference):
    with captured_project_log() as log:
        super_resolve_folder(inference, folder.inputs, str(folder.root / "jpg"), ext="jpg", progress=False,
                             niqe=False)
    assert "alpha is dropped" in log.text() and "16-bit is rounded to 8 bits" in log.text()
    assert read_image_any(str(folder.root / "jpg" / "rgba.jpg")).shape == (128, 160, 3)


@pytest.mark.parametrize("outscale, size", [(3.5, (112, 140)), (1.3, (42, 52)), (0.5, (16, 20))])
def test_outscale_resizes_the_model_output_with_matlab_bicubic(inference, outscale, size):
    rgb = _rgb_photo()  # 32x40
    out = ImageUpscaler(inference, outscale=outscale).run(rgb)
    assert out.shape == size + (3,)
    # independent reference: the numpy MATLAB imresize of the x4 output, when the factor is exact
    if outscale in (3.5, 0.5):
        sr = _sr_float(inference, rgb / 255.0)
        expected = np.clip(np.floor(imresize(sr, outscale / 4) * 255.0 + 0.5), 0, 255)
        assert np.abs(out.astype(int) - expected).max() <= 1


def test_outscale_rounds_half_up_and_keeps_the_exact_size():
    x = torch.rand(1, 1, 25, 30, dtype=torch.float64)
    assert imresize_torch_to(x, 88, 105).shape[-2:] == (88, 105)  # round(3.5 x 25) = 88
    same = imresize_torch_to(x, 25, 30)
    torch.testing.assert_close(same, x)  # MATLAB's identity resize
    with pytest.raises(RwsrError, match="outscale"):
        ImageUpscaler(None, outscale=-1)
    with pytest.raises(RwsrError, match="--alpha"):
        ImageUpscaler(None, alpha="nearest")


def test_outscale_on_the_command_line(folder, tmp_path, capsys):
    from rwsr.archs.network_files import save_network
    from rwsr.cli.test import main

    save_network(folder.net, str(tmp_path / "G.pth"))
    code = main(["--model", str(tmp_path / "G.pth"), "--input", os.path.join(folder.inputs, "gray.png"), "--output",
                 str(tmp_path / "o"), "--outscale", "2.5", "--backend", "torch", "--no_progress", "--no_niqe"])
    assert code == 0
    assert read_image_any(str(tmp_path / "o" / "gray.png")).shape == (80, 100)


class _OutOfMemoryAbove:
    """A forward that raises CUDA's out-of-memory error for inputs above a pixel budget (injected)."""

    def __init__(self, net, max_pixels):
        self.net, self.max_pixels, self.device, self.calls = net, max_pixels, torch.device("cpu"), []

    def __call__(self, x):
        self.calls.append(tuple(x.shape))
        if x.shape[-1] * x.shape[-2] > self.max_pixels:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        with torch.no_grad():
            return self.net(x)[0].float()

    def measure_batch(self, window_h, window_w):
        return 1


def test_out_of_memory_retries_with_halving_tiles(net):
    lr = array_to_tensor(data.astronaut()[100:200, 150:230])  # 100x80
    forward = _OutOfMemoryAbove(net, 40 * 40)
    inference = SRInference(forward, 4, tile_pad=4)
    with captured_project_log() as log:
        sr = inference.run(lr)
    text = log.text()
    assert "the whole image" in text and "--tile 50" in text and "with tile 50" in text and "--tile 25" in text
    assert inference.tile == 25  # kept for the next images
    expected = SRInference(_OutOfMemoryAbove(net, 10 ** 9), 4, tile=25, tile_pad=4).run(lr)
    torch.testing.assert_close(sr, expected, rtol=0, atol=0)
    hopeless = SRInference(_OutOfMemoryAbove(net, 10), 4, tile_pad=4)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        hopeless.run(lr)


def test_tile_batch_is_measured_once_per_tile_shape(net):
    forward = _OutOfMemoryAbove(net, 10 ** 9)
    counted = []
    forward.measure_batch = lambda h, w: counted.append((h, w)) or 2
    inference = SRInference(forward, 4, tile=16, tile_pad=4)
    lr = array_to_tensor(_rgb_photo())
    for _ in range(3):
        inference.run(lr)
    assert counted == [(24, 24)]  # not once per image, and no extra forward for it
    assert len(forward.calls) == 3 * 4  # 6 tiles per image: a single one first, then pairs


API_SCRIPT = """
import os, sys
import numpy as np
import torch._inductor.config as inductor_config
from rwsr.archs import build_generator
from rwsr.inference import SRInference, super_resolve_folder
from rwsr.inference.backends import TorchForward
from rwsr.utils.image_io import write_image
net = build_generator({arch!r}).eval()
TorchForward(net, "cpu", compile=True)
write_image(os.path.join(sys.argv[1], "in", "a.png"), np.full((8, 8, 3), 128, np.uint8))
super_resolve_folder(SRInference(net, 4), os.path.join(sys.argv[1], "in"), os.path.join(sys.argv[1], "out"),
                     progress=False)
print(inductor_config.freezing, os.environ.get("OMP_WAIT_POLICY"))
"""


def test_python_api_leaves_process_settings_alone(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = CODES
    result = subprocess.run([sys.executable, "-c", API_SCRIPT.format(arch=ARCH), str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["False", "None"]  # inductor freezing off, OMP_WAIT_POLICY unset


def test_onnxruntime_failure_keeps_its_message(tmp_path, monkeypatch):
    import onnxruntime

    from rwsr.inference.backends import OnnxForward

    def failing(*args, **kwargs):
        raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected")

    monkeypatch.setattr(onnxruntime, "InferenceSession", failing)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(RwsrError) as err:
        OnnxForward(str(tmp_path / "m.onnx"))
    assert "CUDA failure 100" in str(err.value) and "not a valid ONNX model" not in str(err.value)


def test_option_file_suffix_is_used(folder, tmp_path, capsys):
    from conftest import REPO
    from rwsr.archs.network_files import save_network
    from rwsr.cli.test import main

    save_network(folder.net, str(tmp_path / "G.pth"))
    os.makedirs(tmp_path / "lr")
    write_image(str(tmp_path / "lr" / "photo.png"), _rgb_photo())
    code = main(["-opt", os.path.join(REPO, "options", "df2k", "test_df2k.yml"), "--set",
                 f"path.pretrain_model_G={tmp_path / 'G.pth'}", f"path.results_root={tmp_path / 'results'}",
                 f"datasets.test_1.dataroot_LR={tmp_path / 'lr'}", "network_G.nf=8", "network_G.nb=1",
                 "suffix=_rwsr", "--device", "cpu", "--backend", "torch", "--no_progress", "--no_niqe"])
    assert code == 0, capsys.readouterr().err
    assert os.listdir(tmp_path / "results" / "Test_images" / "DIV2K") == ["photo_rwsr.png"]


def test_bad_outscale_is_one_line_and_writes_nothing(folder, tmp_path, capsys):
    from conftest import assert_one_line_error
    from rwsr.archs.network_files import save_network
    from rwsr.cli.test import main

    save_network(folder.net, str(tmp_path / "G.pth"))
    try:
        code = main(["--model", str(tmp_path / "G.pth"), "--input", folder.inputs, "--output", str(tmp_path / "o"),
                     "--outscale", "0", "--backend", "torch"])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    assert_one_line_error(types.SimpleNamespace(returncode=code, stderr=captured.err), "--outscale 0", code=2)
    assert not os.path.exists(tmp_path / "o")
