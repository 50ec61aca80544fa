"""test.py's CPU default where the CPU has native bf16: our generators in two precisions with
OpenVINO (bf16 trunk, fp32 rest), checked on a photo, with fp32 as the fallback and --fp32."""
import json
import logging
import types

import numpy as np
import pytest
import torch
from skimage import data

from conftest import assert_one_line_error, fp32_uint8, max_levels
from rwsr.archs import build_generator, generator_outputs
from rwsr.archs.network_files import save_network
from rwsr.inference import SRInference, image_to_tensor, load_inference, tensor_to_uint8
from rwsr.inference import staged
from rwsr.inference.openvino_backend import OpenVinoForward, cpu_half_precision, signal_stack_kept
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import read_image, write_image

PHOTOS = {"chelsea": data.chelsea()[60:120, 100:171], "coffee": data.coffee()[100:153, 200:290],
          "astronaut": data.astronaut()[40:104, 180:236]}
BF16 = cpu_half_precision() == "bf16"
needs_bf16 = pytest.mark.skipif(not BF16, reason="this CPU has no native bf16 in OpenVINO")


def _arch(which, global_residual):
    return {"which_model_G": which, "in_nc": 3, "out_nc": 3, "nf": 16, "nb": 2, "gc": 8, "upscale": 4,
            "global_residual": global_residual}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("staged")
    found = {}
    for which in ("RRDBNet", "RRDB"):
        for residual in (False, True):
            torch.manual_seed(0)
            net = build_generator(_arch(which, residual)).eval()
            path = str(root / f"{which}_{residual}.pth")
            save_network(net, path, metadata=_arch(which, residual))
            found[which, residual] = types.SimpleNamespace(net=net, path=path)
    for name, photo in PHOTOS.items():
        write_image(str(root / "lr" / f"{name}.png"), photo)
    return types.SimpleNamespace(root=root, nets=found, lr=str(root / "lr"))




@pytest.mark.parametrize("global_residual", [False, True])
def test_the_stages_compute_the_forward_exactly(global_residual):
    torch.manual_seed(1)
    net = build_generator(_arch("RRDBNet", global_residual)).eval()
    x = image_to_tensor(PHOTOS["coffee"])
    with torch.no_grad():
        assert torch.equal(staged.staged_reference(net, x), generator_outputs(net(x))[0])
    # the plain generator's trunk reaches the image directly: 3 levels in bf16, so it has no stages
    assert staged.has_stages(net) and not staged.has_stages(build_generator(_arch("RRDB", global_residual)))


@needs_bf16
@pytest.mark.parametrize("key", [("RRDBNet", False), ("RRDBNet", True)])
def test_default_runs_the_trunk_in_bf16_within_one_level_on_photos(models, key):
    model = models.nets[key]
    with load_inference(model.path, backend="auto", device="cpu") as ours, \
            load_inference(model.path, {"fp32": True}, backend="openvino", device="cpu") as fp32:
        assert isinstance(ours.backend, staged.StagedForward)
        assert ours.backend.precision == "bf16 trunk + f32" and ours.backend.levels_checked <= staged.MAX_LEVELS
        assert isinstance(fp32.backend, OpenVinoForward) and fp32.backend.precision == "f32"
        for photo in PHOTOS.values():
            x = image_to_tensor(photo)
            y = ours.run(x)
            assert y.shape == (1, 3, photo.shape[0] * 4, photo.shape[1] * 4)
            assert max_levels(tensor_to_uint8(y), fp32_uint8(model.net, photo)) <= 1
            assert float((y - fp32.run(x)).abs().max()) > 5e-6  # the trunk really computes in bf16 (fp32: ~1e-7)


@needs_bf16
@pytest.mark.parametrize("scale", [1, 2, 3])
def test_every_scale_of_the_edl_generator_runs_in_two_precisions(scale, tmp_path):
    torch.manual_seed(0)
    arch = dict(_arch("RRDBNet", True), nb=1, upscale=scale)
    net = build_generator(arch).eval()
    path = str(tmp_path / "G.pth")
    save_network(net, path, metadata=arch)
    photo = PHOTOS["coffee"][:23, :31]
    with load_inference(path, backend="openvino", device="cpu") as ours:
        assert isinstance(ours.backend, staged.StagedForward) and ours.scale == scale
        y = tensor_to_uint8(ours.run(image_to_tensor(photo)))
    assert y.shape == (23 * scale, 31 * scale, 3)
    assert max_levels(y, fp32_uint8(net, photo)) <= 1


@needs_bf16
def test_tiles_and_ensemble_in_two_precisions(models):
    model = models.nets["RRDBNet", True]
    x = image_to_tensor(PHOTOS["chelsea"])
    for settings in ({"tile": 24, "tile_pad": 4}, {"ensemble": True}):
        with load_inference(model.path, settings, backend="openvino", device="cpu") as ours, \
                SRInference(model.net, 4, device="cpu", **settings) as reference:
            assert isinstance(ours.backend, staged.StagedForward)
            assert max_levels(tensor_to_uint8(ours.run(x)), tensor_to_uint8(reference.run(x))) <= 1


@needs_bf16
def test_the_residual_stream_of_the_bf16_trunk_stays_fp32(models, tmp_path):
    import openvino

    net = models.nets["RRDBNet", False].net
    paths = staged.export_stages(net, str(tmp_path), {"upscale": 4})
    xml_path, marked = staged.keep_sums_in_fp32(paths[1])
    assert marked == 2 * 4 + 1  # per RRDB: three dense blocks and the block itself; then the trunk's skip
    fea = net.stem(image_to_tensor(PHOTOS["astronaut"])).detach()
    with torch.no_grad():
        exact = net.trunk_stage(fea)
    errors = {}
    with signal_stack_kept():
        core = openvino.Core()
        for name, path in (("plain", paths[1]), ("marked", xml_path)):
            compiled = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "bf16"})
            errors[name] = float(np.abs(compiled.create_infer_request().infer({0: fea.numpy()})[0] - exact.numpy()).max())
            if name == "marked":
                layers = [{key: op.get_rt_info()[key].astype(str) for key in
                           ("originalLayersNames", "layerType", "runtimePrecision", "outputPrecisions")}
                          for op in compiled.get_runtime_model().get_ordered_ops()]
            del compiled
        del core
    stream = [layer["outputPrecisions"] for layer in layers
              if layer["originalLayersNames"].endswith(("trunk.0/Add", "trunk.1/Add"))]
    assert stream == ["f32", "f32"]  # the sum that carries each RRDB's input forward
    convolutions = [layer["runtimePrecision"] for layer in layers if layer["layerType"] == "Convolution"]
    assert len(convolutions) == 2 * 3 * 5 + 1 + 4 and set(convolutions) == {"bf16"}  # + upsampling to mid
    assert errors["marked"] < errors["plain"]


@needs_bf16
def test_a_failed_check_runs_fp32_as_one_graph_with_a_warning(models, monkeypatch, caplog):
    model = models.nets["RRDBNet", True]
    monkeypatch.setattr(staged, "MAX_LEVELS", -1)  # no result can pass
    with caplog.at_level(logging.INFO, logger="rwsr"):
        with load_inference(model.path, backend="auto", device="cpu") as ours:
            assert isinstance(ours.backend, OpenVinoForward) and ours.backend.precision == "f32"
    assert "8-bit levels from fp32 on the check photo (more than -1): running fp32" in caplog.text
    assert "backend: OpenVINO f32" in caplog.text


def test_the_plain_generator_and_cpus_without_native_bf16_run_one_fp32_graph(models, monkeypatch):
    with load_inference(models.nets["RRDB", True].path, backend="openvino", device="cpu") as ours:
        assert isinstance(ours.backend, OpenVinoForward) and ours.backend.precision == "f32"
    monkeypatch.setattr(staged, "cpu_half_precision", lambda: None)
    with load_inference(models.nets["RRDBNet", False].path, backend="openvino", device="cpu") as ours:
        assert isinstance(ours.backend, OpenVinoForward) and ours.backend.precision == "f32"


def test_half_and_fp32_together_are_a_one_line_error(models, tmp_path):
    from conftest import run_script

    model = models.nets["RRDBNet", False]
    result = run_script("codes/test.py", "--model", model.path, "--input", models.lr, "--output", tmp_path / "out",
                        "--half", "--fp32")
    assert_one_line_error(result, "--half or --fp32", code=2)
    assert not (tmp_path / "out").exists()
    with pytest.raises(RwsrError, match="choose one"):
        load_inference(model.path, {"half": True, "fp32": True})


@needs_bf16
def test_test_py_logs_the_precision_and_fp32_turns_it_off(models, tmp_path):
    from conftest import run_script

    model = models.nets["RRDBNet", True]
    for flags, expected in (((), "backend: OpenVINO bf16 trunk + f32, "), (("--fp32",), "backend: OpenVINO f32 (")):
        out = tmp_path / (flags[0][2:] if flags else "default")
        result = run_script("codes/test.py", "--model", model.path, "--input", models.lr, "--output", out,
                            "--no_progress", *flags)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout + result.stderr
        runtime = json.load(open(out / "metrics.json"))["runtime"]  # which precision made these outputs
        assert runtime.startswith(expected[len("backend: "):].rstrip(" ,("))
        for name, photo in PHOTOS.items():
            assert max_levels(read_image(str(out / f"{name}.png")), fp32_uint8(model.net, photo)) <= 1
