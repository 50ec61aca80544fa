"""OpenVINO backend: the PyTorch forward's output on real photos, tiles, ensemble, bf16 --half,
the model cache, auto's choice and fallbacks, one-line errors."""
import logging
import os
import types

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from skimage import data

from conftest import assert_one_line_error, fp32_uint8, max_levels
from rwsr.archs import build_generator, generator_outputs
from rwsr.archs.network_files import save_network
from rwsr.inference import SRInference, image_to_tensor, load_inference, tensor_to_uint8
from rwsr.inference.backend_choice import backend_candidates
from rwsr.inference.onnx_export import export_onnx
from rwsr.inference import openvino_backend
from rwsr.inference.openvino_backend import OpenVinoForward, half_precision, signal_stack_kept
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image

ARCH = {"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 16, "nb": 1, "gc": 8, "upscale": 4}
CPU = torch.device("cpu")
# real photos, odd sizes (LR)
PHOTOS = {"chelsea": data.chelsea()[60:120, 100:171], "coffee": data.coffee()[100:153, 200:290]}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("openvino")
    torch.manual_seed(0)
    net = build_generator(ARCH).eval()
    save_network(net, str(root / "G.pth"), metadata=ARCH)
    export_onnx(net, str(root / "G.onnx"), metadata={"upscale": 4})
    for name, photo in PHOTOS.items():
        write_image(str(root / "lr" / f"{name}.png"), photo)
    return types.SimpleNamespace(root=root, net=net, pth=str(root / "G.pth"), onnx=str(root / "G.onnx"),
                                 lr=str(root / "lr"))




def _run_test_py(capsys, *argv):
    from rwsr.cli.test import main

    try:
        code = main([str(arg) for arg in argv]) or 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)


def test_fp32_matches_the_pytorch_forward_on_photos_of_any_size(model):
    forward = OpenVinoForward(model.onnx, cache_dir="")
    assert forward.precision == "f32" and forward.metadata["upscale"] == "4"
    for photo in PHOTOS.values():  # one compiled model, dynamic sizes
        x = image_to_tensor(photo)
        with torch.no_grad():
            expected = generator_outputs(model.net(x))[0]
        y = forward(x)
        assert y.shape == expected.shape == (1, 3, photo.shape[0] * 4, photo.shape[1] * 4)
        assert float((y - expected).abs().max()) < 1e-4
        assert max_levels(tensor_to_uint8(y.clamp(0, 1)), fp32_uint8(model.net, photo)) <= 1
    batch = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(0))  # dynamic batch too
    with torch.no_grad():
        torch.testing.assert_close(forward(batch), generator_outputs(model.net(batch))[0], atol=1e-4, rtol=0)


def test_half_runs_bf16_where_the_cpu_has_it(model):
    import openvino

    with signal_stack_kept():
        capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    forward = OpenVinoForward(model.onnx, half=True, cache_dir="")
    x = image_to_tensor(PHOTOS["chelsea"])
    fp32 = OpenVinoForward(model.onnx, cache_dir="")(x)
    if half_precision(capabilities) is None:
        assert forward.precision == "f32" and "runs fp32" in forward.notes[0]
        return
    assert forward.precision == half_precision(capabilities)
    y = forward(x)
    assert float((y - fp32).abs().max()) > 1e-4  # it really computes in the lower precision
    assert max_levels(tensor_to_uint8(y.clamp(0, 1)), fp32_uint8(model.net, PHOTOS["chelsea"])) <= 3


def test_half_precision_by_cpu_capabilities():
    assert half_precision(["BF16", "FP32", "INT8"]) == "bf16"
    assert half_precision(["FP16", "FP32"]) == "f16"  # ARM CPUs with fp16 arithmetic
    assert half_precision(["FP32", "INT8"]) is None


def test_tiles_and_ensemble_match_the_pytorch_backend(model):
    x = image_to_tensor(PHOTOS["coffee"])
    settings = {"tile": 24, "tile_pad": 4}
    with load_inference(model.pth, dict(settings, fp32=True), backend="openvino") as ours, \
            SRInference(model.net, 4, device="cpu", tile=24, tile_pad=4) as reference:
        assert isinstance(ours.backend, OpenVinoForward)
        tiled = tensor_to_uint8(ours.run(x))
        assert max_levels(tiled, tensor_to_uint8(reference.run(x))) <= 1  # same seams, stitched alike
    photo = PHOTOS["coffee"][:21, :34]  # not square: the transposed views have another shape
    x = image_to_tensor(photo)
    with load_inference(model.pth, {"ensemble": True, "fp32": True}, backend="openvino") as ours, \
            SRInference(model.net, 4, device="cpu", ensemble=True) as reference:
        ensembled = tensor_to_uint8(ours.run(x))
        assert max_levels(ensembled, tensor_to_uint8(reference.run(x))) <= 1
    assert max_levels(ensembled, fp32_uint8(model.net, photo)) > 1  # the ensemble did change it


def test_model_cache_skips_compilation_on_the_second_run(model, tmp_path):
    cache = tmp_path / "cache"
    first = OpenVinoForward(model.onnx, cache_dir=str(cache))
    assert not first.compiled.get_property("LOADED_FROM_CACHE") and os.listdir(cache)
    moved = tmp_path / "elsewhere.onnx"  # exported again to another temporary folder: same content
    moved.write_bytes(open(model.onnx, "rb").read())
    second = OpenVinoForward(str(moved), cache_dir=str(cache))
    assert second.compiled.get_property("LOADED_FROM_CACHE")
    x = image_to_tensor(PHOTOS["chelsea"])
    torch.testing.assert_close(second(x), first(x), atol=0, rtol=0)
    # the cached model holds no precision: --half after an fp32 run still computes in the lower one
    half_cached, half_fresh = (OpenVinoForward(model.onnx, half=True, cache_dir=folder) for folder in (str(cache), ""))
    assert half_cached.precision == half_fresh.precision
    torch.testing.assert_close(half_cached(x), half_fresh(x), atol=0, rtol=0)
    (tmp_path / "a_file").write_text("")
    uncached = OpenVinoForward(model.onnx, cache_dir=str(tmp_path / "a_file" / "cache"))
    assert uncached.cache_dir is None and "is not writable: compiling without it" in uncached.notes[0]


def test_auto_picks_openvino_on_the_cpu_and_logs_it(model, tmp_path, capsys):
    assert backend_candidates("auto", "G.pth", CPU, {}) == ["openvino", "onnx", "torch"]
    assert backend_candidates("auto", "G.pth", CPU, {"half": True}) == ["openvino", "torch"]
    assert backend_candidates("auto", "G.pth", CPU, {"compile": True}) == ["torch"]
    assert backend_candidates("auto", "G.onnx", CPU, {}) == ["openvino", "onnx"]
    assert backend_candidates("auto", "G.pth", torch.device("cuda"), {}) == ["torch"]
    assert backend_candidates("auto", "G.onnx", torch.device("cuda"), {}) == ["onnx"]
    with pytest.raises(RwsrError, match="runs on the CPU"):
        backend_candidates("openvino", "G.pth", torch.device("cuda"), {})
    result = _run_test_py(capsys, "--model", model.pth, "--input", model.lr, "--output", tmp_path, "--no_progress",
                          "--tile", "32", "--tile_pad", "8", "--fp32")  # the default: tests/test_staged.py
    assert result.returncode == 0, result.stderr
    assert "backend: OpenVINO f32" in result.stdout + result.stderr
    for name, photo in PHOTOS.items():
        written = read_image(str(tmp_path / f"{name}.png"))
        with SRInference(model.net, 4, device="cpu", tile=32, tile_pad=8) as reference:
            assert max_levels(written, tensor_to_uint8(reference.run(image_to_tensor(photo)))) <= 1


def _unconvertible_onnx(path):
    """x4 depth-to-space SR whose last node (ai.onnx.ml Scaler, identity here) onnxruntime runs and
    OpenVINO cannot convert."""
    weight = numpy_helper.from_array(np.random.default_rng(0).random((48, 3, 3, 3), dtype=np.float32) / 27, "w")
    nodes = [helper.make_node("Conv", ["lr", "w"], ["features"], pads=[1, 1, 1, 1]),
             helper.make_node("DepthToSpace", ["features"], ["up"], blocksize=4),
             helper.make_node("Scaler", ["up"], ["sr"], domain="ai.onnx.ml", offset=[0.0], scale=[1.0])]
    graph = helper.make_graph(nodes, "sr", [helper.make_tensor_value_info("lr", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [helper.make_tensor_value_info("sr", TensorProto.FLOAT, ["n", 3, "H", "W"])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]),
              path)
    return path


def test_a_model_openvino_cannot_convert_stops_or_falls_back(model, tmp_path, capsys):
    path = _unconvertible_onnx(str(tmp_path / "scaler.onnx"))
    result = _run_test_py(capsys, "--model", path, "--backend", "openvino", "--input", model.lr,
                          "--output", tmp_path / "asked")
    assert_one_line_error(result, "scaler.onnx", "OpenVINO cannot run this model",
                          "No conversion rule found for operations: ai.onnx.ml.Scaler", code=1)
    assert not (tmp_path / "asked" / "chelsea.png").exists()
    result = _run_test_py(capsys, "--model", path, "--input", model.lr, "--output", tmp_path / "auto", "--no_progress")
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert "ai.onnx.ml.Scaler); trying onnxruntime instead" in log and "backend: onnxruntime" in log
    assert read_image(str(tmp_path / "auto" / "chelsea.png")).shape == (240, 284, 3)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(open(model.onnx, "rb").read()[:300])
    result = _run_test_py(capsys, "--model", broken, "--backend", "openvino", "--input", model.lr,
                          "--output", tmp_path / "broken")
    assert_one_line_error(result, "broken.onnx", "OpenVINO cannot run this model (Model can't be parsed)", code=1)


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.SwinIR import SwinIR

    root = tmp_path_factory.mktemp("community_openvino")
    torch.manual_seed(0)
    nets = {"compact": Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4),
            "swinir": SwinIR(in_chans=3, embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                             upsampler="pixelshuffledirect", img_size=16)}
    return {name: (save_network(net.eval(), str(root / f"{name}.pth")), net.eval()) for name, net in nets.items()}


def test_community_models_run_through_openvino_or_fall_back_with_a_reason(community, caplog):
    path, net = community["compact"]
    x = image_to_tensor(PHOTOS["chelsea"])
    with load_inference(path, backend="openvino") as ours:
        assert isinstance(ours.backend, OpenVinoForward)
        with torch.no_grad():
            expected = tensor_to_uint8(net(x).clamp(0, 1))
        assert max_levels(tensor_to_uint8(ours.run(x)), expected) <= 1
    path, _ = community["swinir"]  # window attention: the traced graph holds one input size
    with caplog.at_level(logging.WARNING, logger="rwsr"):
        with load_inference(path, backend="auto") as ours:
            assert isinstance(ours.backend.net, torch.nn.Module)
    assert "swinir.onnx: the exported graph" in caplog.text and "running PyTorch instead" in caplog.text
    with pytest.raises(RwsrError, match="swinir.onnx: the exported graph"):
        load_inference(path, backend="openvino")


def _signal_stack():
    import ctypes

    current = openvino_backend._SignalStack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(current)) == 0
    return current.ss_sp, current.ss_flags, current.ss_size


@pytest.mark.skipif(not os.sys.platform.startswith("linux"), reason="sigaltstack layout of Linux")
def test_models_created_and_released_in_any_order_keep_the_signal_stack(model):
    """OpenVINO's CPU plugin swaps the alternate signal stack per object; released out of order it
    left a freed stack in place and the next signal handled by Python crashed the process."""
    before = _signal_stack()
    first = OpenVinoForward(model.onnx, cache_dir="")
    second = OpenVinoForward(model.onnx, cache_dir="")
    first(image_to_tensor(PHOTOS["chelsea"][:32, :32]))
    del first
    assert _signal_stack() == before
    second.close()
    assert _signal_stack() == before
