"""ONNX export: dynamic sizes match PyTorch under onnxruntime; test.py --backend onnx."""
import os
import types

import numpy as np
import onnxruntime as ort
import pytest
import torch
from skimage import data

from conftest import assert_one_line_error, run_script
from rwsr.archs import build_generator, generator_outputs
from rwsr.archs.network_files import save_network
from rwsr.inference import SRInference, image_to_tensor, tensor_to_uint8
from rwsr.inference.onnx_export import DYNAMO_TORCH, export_onnx
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image
from rwsr.utils.imresize import imresize_uint8
from rwsr.utils.torch_compat import torch_at_least

ARCH = {"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8, "upscale": 4,
        "global_residual": True}  # the bicubic skip must export too


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    net = build_generator(ARCH).eval()
    save_network(net, str(root / "G.pth"), metadata=ARCH)
    export_onnx(net, str(root / "G.onnx"), opset=17, metadata={"upscale": 4})
    lr = root / "lr"
    write_image(str(lr / "chelsea.png"), imresize_uint8(data.chelsea()[:120, :160], 0.25))
    write_image(str(lr / "rocket.png"), imresize_uint8(data.rocket()[:88, :100], 0.25))
    return types.SimpleNamespace(root=root, net=net, onnx=str(root / "G.onnx"), model=str(root / "G.pth"),
                                 lr=str(lr))


def _torch_y(net, x):
    with torch.no_grad():
        return generator_outputs(net(x))[0].numpy()


def test_onnxruntime_matches_pytorch_on_two_sizes(exported):
    session = ort.InferenceSession(exported.onnx, providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["upscale"] == "4"
    for shape in ((1, 3, 20, 28), (2, 3, 13, 9)):  # dynamic batch, height and width
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(shape[2]))
        (y,) = session.run(None, {"lr": x.numpy()})
        expected = _torch_y(exported.net, x)
        assert y.shape == expected.shape == (shape[0], 3, shape[2] * 4, shape[3] * 4)
        np.testing.assert_allclose(y, expected, atol=1e-4, rtol=0)


def test_half_export_runs_in_fp16(exported, tmp_path):
    path = export_onnx(exported.net, str(tmp_path / "G16.onnx"), half=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float16)"
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    (y,) = session.run(None, {"lr": x.numpy().astype(np.float16)})
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), _torch_y(exported.net, x), atol=2e-2, rtol=0)
    assert next(exported.net.parameters()).dtype == torch.float32  # the caller's network is untouched


def test_export_script_writes_and_verifies(exported, tmp_path):
    output = tmp_path / "model.onnx"
    result = run_script("codes/export_onnx.py", "--model", exported.model, "--output", output, "--opset", "17")
    assert result.returncode == 0, result.stderr
    assert "max |difference|" in result.stdout and os.path.getsize(output) > 0
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["nf"] == "8" and metadata["global_residual"] == "True"
    x = torch.rand(1, 3, 11, 17)
    np.testing.assert_allclose(session.run(None, {"lr": x.numpy()})[0], _torch_y(exported.net, x), atol=1e-4)
    again = run_script("codes/export_onnx.py", "--model", exported.model, "--output", output)
    assert_one_line_error(again, "model.onnx", "--overwrite", code=2)
    missing = run_script("codes/export_onnx.py", "--model", tmp_path / "none.pth", "--output", tmp_path / "x.onnx")
    assert_one_line_error(missing, "none.pth", code=2)


def _run_test_cli(capsys, *argv):
    from rwsr.cli.test import main

    try:
        code = main([str(arg) for arg in argv]) or 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr()


@pytest.mark.parametrize("model_kind", ["onnx_file", "pth_exported_on_the_fly"])
def test_test_py_onnx_backend_with_tiles(exported, tmp_path, capsys, model_kind):
    model = exported.onnx if model_kind == "onnx_file" else exported.model
    code, captured = _run_test_cli(capsys, "--model", model, "--backend", "onnx", "--input", exported.lr,
                                   "--output", tmp_path, "--tile", "12", "--tile_pad", "6", "--no_progress")
    assert code == 0, captured.err
    for name in ("chelsea", "rocket"):
        lr = read_image(os.path.join(exported.lr, f"{name}.png"))
        plain = tensor_to_uint8(SRInference(exported.net, 4, device="cpu").run(image_to_tensor(lr)))
        result = read_image(str(tmp_path / f"{name}.png"))
        assert np.abs(result.astype(np.int16) - plain.astype(np.int16)).max() <= 1


def test_onnx_backend_bad_input(exported, tmp_path, capsys):
    code, captured = _run_test_cli(capsys, "--model", exported.onnx, "--backend", "torch", "--input",
                                   exported.lr, "--output", tmp_path / "a")
    assert code == 2 and "--backend onnx" in captured.err
    code, captured = _run_test_cli(capsys, "--model", exported.onnx, "--input", exported.lr, "--output",
                                   tmp_path / "b", "--scale", "2")
    assert code == 2 and "x4, not x2" in captured.err
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(open(exported.onnx, "rb").read()[:200])
    code, captured = _run_test_cli(capsys, "--model", broken, "--input", exported.lr, "--output", tmp_path / "c")
    assert code == 1 and "not a valid ONNX model" in captured.err and "Traceback" not in captured.err


def test_dynamo_exporter_also_gives_dynamic_sizes(exported, tmp_path):
    if not torch_at_least(DYNAMO_TORCH):  # the floor run (make check-floor): a one-line error instead
        with pytest.raises(RwsrError, match=f"needs torch>={DYNAMO_TORCH}"):
            export_onnx(exported.net, str(tmp_path / "D.onnx"), opset=18, exporter="dynamo")
        return
    path = export_onnx(exported.net, str(tmp_path / "D.onnx"), opset=18, exporter="dynamo")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 10, 14), (1, 3, 7, 5)):
        x = torch.rand(*shape)
        np.testing.assert_allclose(session.run(None, {"lr": x.numpy()})[0], _torch_y(exported.net, x), atol=1e-4)
