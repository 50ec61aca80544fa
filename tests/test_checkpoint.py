"""The checkpoint loader: formats, wrappers, renaming, partial loads, safety and bad files."""
import logging
import pickle

import pytest
import torch
from safetensors import safe_open

from arch_helpers import ListHandler, TINY, tiny_generator
from rwsr.archs import build_discriminator
from rwsr.archs.network_files import (infer_generator_options, load_network, read_checkpoint, safe_torch_load,
                                   save_network)
from rwsr.archs.state_names import to_basicsr_names
from rwsr.utils.errors import RwsrError

EDL_HEAD = ("sm.", "branch1.", "branch2.", "tail_conv1.", "tail_conv2.")


def logger_with_list():
    logger = logging.getLogger("test_checkpoint")
    logger.handlers.clear()
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handler


def assert_same_weights(net_a, net_b, keys=None):
    state_a, state_b = net_a.state_dict(), net_b.state_dict()
    for key in keys or state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def fresh_pair(which="RRDB", upscale=4, **extra):
    torch.manual_seed(0)
    source = tiny_generator(which, upscale, **extra)
    torch.manual_seed(1)
    return source, tiny_generator(which, upscale, **extra)


def test_pth_round_trip_is_a_plain_state_dict_loadable_by_plain_torch(tmp_path):
    source, target = fresh_pair("RRDBNet")
    path = save_network(source, tmp_path / "100_G.pth", metadata={"which_model_G": "RRDBNet", "nf": 8})
    plain = torch.load(path, weights_only=True)  # what the official code does
    assert set(plain) == set(source.state_dict())
    target.load_state_dict(plain, strict=True)
    assert_same_weights(source, target)
    state, metadata = read_checkpoint(path)
    assert metadata == {"which_model_G": "RRDBNet", "nf": 8} and set(state) == set(plain)


@pytest.mark.parametrize("wrap", [
    lambda s: {"params": s},
    lambda s: {"params_ema": s, "params": {k: torch.zeros_like(v) for k, v in s.items()}},
    lambda s: {"state_dict": {"module." + k: v for k, v in s.items()}},
    lambda s: {"model": {"module.module." + k: v for k, v in s.items()}},
])
def test_wrappers_and_module_prefixes(tmp_path, wrap):
    source, target = fresh_pair()
    torch.save(wrap(source.state_dict()), tmp_path / "w.pth")
    report = load_network(target, str(tmp_path / "w.pth"), strict=True, logger=logger_with_list()[0])
    assert report.complete and len(report.loaded) == len(source.state_dict())
    assert_same_weights(source, target)


def test_loads_into_a_data_parallel_wrapped_network():
    source, target = fresh_pair()
    load_network(torch.nn.DataParallel(target), source.state_dict(), logger=logger_with_list()[0])
    assert_same_weights(source, target)


def test_basicsr_names_round_trip(tmp_path):
    source, target = fresh_pair("RRDB", 4)
    basicsr = to_basicsr_names(source.state_dict())
    for key in ("body.1.rdb3.conv5.weight", "conv_body.weight", "conv_up1.weight", "conv_up2.bias",
                "conv_hr.weight", "conv_first.weight", "conv_last.bias"):
        assert key in basicsr
    assert not any(k.startswith(("RRDB_trunk", "trunk_conv", "upconv", "HRconv")) for k in basicsr)
    torch.save({"params_ema": basicsr}, tmp_path / "RealESRGAN_like.pth")
    logger, log = logger_with_list()
    report = load_network(target, str(tmp_path / "RealESRGAN_like.pth"), strict=True, logger=logger)
    assert report.convention == "basicsr" and "BasicSR names mapped" in log.text()
    assert_same_weights(source, target)
    assert infer_generator_options(basicsr) == dict(TINY, which_model_G="RRDB", upscale=4, global_residual=False)


def test_esrgan_psnr_checkpoint_fills_the_edl_trunk_and_reports_the_head(tmp_path):
    torch.manual_seed(0)
    psnr = tiny_generator("RRDB", 4)  # RRDB_PSNR_x4.pth has exactly these names
    torch.save(psnr.state_dict(), tmp_path / "RRDB_PSNR_x4.pth")
    edl = tiny_generator("RRDBNet", 4)
    head_before = {k: v.clone() for k, v in edl.state_dict().items() if k.startswith(EDL_HEAD)}
    logger, log = logger_with_list()
    report = load_network(edl, str(tmp_path / "RRDB_PSNR_x4.pth"), strict=False, logger=logger)
    assert set(report.missing) == set(head_before) and report.unexpected == [] and report.mismatched == []
    assert_same_weights(psnr, edl, keys=list(psnr.state_dict()))
    assert all(torch.equal(edl.state_dict()[k], v) for k, v in head_before.items())  # head untouched
    warning = log.text(logging.WARNING)
    assert f"{len(head_before)} missing (branch1.* (18), branch2.* (18), sm.* (18), tail_conv1.* (2)" in warning

    with pytest.raises(RwsrError) as err:
        load_network(edl, str(tmp_path / "RRDB_PSNR_x4.pth"), strict=True, logger=logger)
    assert "RRDB_PSNR_x4.pth" in str(err.value) and "missing" in str(err.value) and "sm.* (18)" in str(err.value)
    assert "\n" not in str(err.value)


def test_wrong_architecture_names_the_keys_that_do_not_fit(tmp_path):
    discriminator = build_discriminator(dict(which_model_D="NLayerDiscriminator", nf=8))
    save_network(discriminator, tmp_path / "D.pth")
    gen = tiny_generator("RRDB")
    with pytest.raises(RwsrError, match=r"D.pth: weights do not fit RRDBNet: .*unexpected \(model\.\* \(\d+\)"):
        load_network(gen, str(tmp_path / "D.pth"), strict=True)
    with pytest.raises(RwsrError, match="no weight fits RRDBNet"):
        load_network(gen, str(tmp_path / "D.pth"), strict=False)
    wider = tiny_generator("RRDB", nf=16)
    with pytest.raises(RwsrError, match=r"shape-mismatched \(conv_first.weight \(16, 3, 3, 3\) in file vs \(8, 3, 3, 3\)"):
        load_network(gen, wider.state_dict(), strict=True)


def test_x4_weights_into_x2_network_partial_load():
    source, target = fresh_pair("RRDB", 4)
    x2 = tiny_generator("RRDB", 2)
    report = load_network(x2, source.state_dict(), strict=False, logger=logger_with_list()[0])
    assert report.unexpected == ["upconv2.weight", "upconv2.bias"] and not report.missing


class MarkerWriter:
    """Unpickling this object opens (creates) a marker file: arbitrary code execution."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch_zip", "raw_pickle"])
def test_malicious_pickle_is_refused_without_running(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "G.pth"
    payload = {"conv_first.weight": torch.zeros(1), "evil": MarkerWriter(marker)}
    if writer == "torch_zip":
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)
    for load in (safe_torch_load, read_checkpoint, lambda p: load_network(tiny_generator("RRDB"), p)):
        with pytest.raises(RwsrError) as err:
            load(str(path))
        assert str(path) in str(err.value) and "refused" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    if writer == "raw_pickle":  # control: an ordinary unpickler does run it, so the test can fail
        with open(path, "rb") as handle:
            pickle.load(handle)
        assert marker.exists()


def test_unsafe_global_is_named(tmp_path):
    path = tmp_path / "G.pth"
    torch.save({"w": MarkerWriter(tmp_path / "m")}, path)
    with pytest.raises(RwsrError, match=r"needs the global (io|builtins)\.open"):
        safe_torch_load(str(path))


def test_bad_files_are_one_line_errors(tmp_path):
    good = tmp_path / "good.pth"
    save_network(tiny_generator("RRDB"), good)
    data = good.read_bytes()
    cases = {
        "missing.pth": None,
        "empty.pth": b"",
        "truncated.pth": data[: len(data) // 2],
        "text.pth": b"this is not a checkpoint\n",
        "image.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    }
    expected = {"missing.pth": "not found", "empty.pth": "empty", "truncated.pth": "truncated or corrupt",
                "text.pth": "not a PyTorch checkpoint", "image.png": "not a PyTorch checkpoint"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(RwsrError) as err:
            read_checkpoint(str(path))
        message = str(err.value)
        assert str(path) in message and expected[name] in message and "\n" not in message, message


def test_training_state_or_non_tensor_dict_is_not_a_network(tmp_path):
    state = {"iter": 5, "epoch": 1, "optimizers": [{"state": {}, "param_groups": []}], "rng": [1, 2, 3]}
    torch.save(state, tmp_path / "5.state")
    assert safe_torch_load(str(tmp_path / "5.state")) == state  # plain containers load safely
    with pytest.raises(RwsrError, match="not a network checkpoint .*training state"):
        read_checkpoint(str(tmp_path / "5.state"))


def test_safetensors_with_metadata(tmp_path):
    source, target = fresh_pair("RRDBNet", 2, global_residual=True)
    options = dict(TINY, which_model_G="RRDBNet", upscale=2, global_residual=True)
    path = save_network(source, tmp_path / "G.safetensors", fmt="safetensors", metadata=options)
    with safe_open(path, framework="pt") as handle:  # plain string metadata, readable by any tool
        raw = handle.metadata()
    assert raw["which_model_G"] == '"RRDBNet"' and raw["nf"] == "8" and raw["global_residual"] == "true"
    state, metadata = read_checkpoint(path)
    assert metadata == options
    assert infer_generator_options(state, metadata) == options
    assert infer_generator_options(state)["global_residual"] is False  # weights alone cannot tell
    load_network(target, path, strict=True, logger=logger_with_list()[0])
    assert_same_weights(source, target)

    truncated = tmp_path / "bad.safetensors"
    truncated.write_bytes(open(path, "rb").read()[:200])
    with pytest.raises(RwsrError, match="bad.safetensors: not a readable safetensors file"):
        read_checkpoint(str(truncated))


def test_metadata_scale_key_and_pth_metadata(tmp_path):
    source = tiny_generator("RRDB", 4)
    path = save_network(source, tmp_path / "G.pth", metadata={"scale": 4, "global_residual": False})
    state, metadata = read_checkpoint(path)
    assert infer_generator_options(state, metadata)["upscale"] == 4


@pytest.mark.parametrize("which,upscale", [("RRDBNet", 4), ("RRDBNet", 2), ("RRDB", 2)])
def test_infer_options_from_shapes(which, upscale):
    state = {"module." + k: v for k, v in tiny_generator(which, upscale).state_dict().items()}
    assert infer_generator_options(state) == dict(TINY, which_model_G=which, upscale=upscale, global_residual=False)


def test_infer_options_rejects_other_networks():
    discriminator = build_discriminator(dict(which_model_D="NLayerDiscriminator", nf=8))
    with pytest.raises(RwsrError, match="not an RRDBNet generator checkpoint: no conv_first.weight"):
        infer_generator_options(discriminator.state_dict())
    unshuffle = to_basicsr_names(tiny_generator("RRDB", 4).state_dict())
    unshuffle["conv_first.weight"] = torch.zeros(8, 12, 3, 3)
    with pytest.raises(RwsrError, match="pixel-unshuffle"):
        infer_generator_options(unshuffle)
    unshuffle["conv_first.weight"] = torch.zeros(8, 48, 3, 3)  # x1: 16 times the output channels
    with pytest.raises(RwsrError, match="pixel-unshuffle"):
        infer_generator_options(unshuffle)


def test_plain_state_dicts_save_and_load_strictly_by_default(tmp_path):
    source = tiny_generator("RRDB", 4)
    path = save_network(source.state_dict(), tmp_path / "plain.pth")
    loaded, _ = read_checkpoint(path)
    assert all(torch.equal(loaded[key], value) for key, value in source.state_dict().items())
    partial = dict(source.state_dict())
    partial.pop("conv_last.bias")
    with pytest.raises(RwsrError, match="state dict: weights do not fit"):
        load_network(tiny_generator("RRDB", 4), partial)
    report = load_network(tiny_generator("RRDB", 4), partial, strict=False)
    assert len(report.loaded) == len(partial)


def test_save_format_errors(tmp_path):
    with pytest.raises(RwsrError, match="unknown checkpoint format 'onnx'"):
        save_network(tiny_generator("RRDB"), tmp_path / "G.onnx", fmt="onnx")


def test_load_generator_rebuilds_the_saved_architecture(tmp_path):
    from rwsr.inference.model_loading import load_generator
    torch.manual_seed(0)
    source = tiny_generator("RRDBNet", 2, global_residual=True).eval()
    options = dict(TINY, which_model_G="RRDBNet", upscale=2, global_residual=True)
    x = torch.rand(1, 3, 5, 5)
    for name in ("G.safetensors", "G.pth"):
        path = save_network(source, tmp_path / name, metadata=dict(options, scale=2))
        loaded = load_generator(path, logger=logger_with_list()[0])
        net, inferred = loaded.net, loaded.options
        assert inferred == options and net.global_residual and loaded.scale == 2
        with torch.no_grad():
            torch.testing.assert_close(net.eval()(x)[0], source(x)[0])
    # weights without metadata: the shapes give the architecture, options may add the rest
    torch.save(source.state_dict(), tmp_path / "bare.pth")
    loaded = load_generator(str(tmp_path / "bare.pth"), {"global_residual": True})
    assert loaded.options == options
