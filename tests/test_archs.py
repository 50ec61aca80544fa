"""Generators, discriminators and the VGG feature network."""
import logging

import pytest
import torch
from torch.nn import functional as F

from arch_helpers import TINY, captured_project_log, tiny_generator, write_fake_vgg19
from rwsr.archs import (VGGFeatureExtractor, build_discriminator, build_generator, generator_outputs)
from rwsr.archs import backbones
from rwsr.utils.errors import RwsrError

NF, NB, GC = TINY["nf"], TINY["nb"], TINY["gc"]


def design_md_shapes(nf, nb, gc, in_nc=3, out_nc=3, upscale=4, edl=True):
    """Parameter names and shapes written out from DESIGN.md / the official code, independently of our modules."""
    shapes = {}

    def conv(name, cin, cout, k=3):
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    conv("conv_first", in_nc, nf)
    for n in range(nb):
        for k in (1, 2, 3):
            for j in range(1, 6):
                conv(f"RRDB_trunk.{n}.RDB{k}.conv{j}", nf + (j - 1) * gc, gc if j < 5 else nf)
    for name in ["trunk_conv", "upconv1"] + (["upconv2"] if upscale == 4 else []) + ["HRconv"]:
        conv(name, nf, nf)
    conv("conv_last", nf, out_nc)
    if edl:
        for stack in ("sm", "branch1", "branch2"):
            for i in range(3):
                cin = out_nc if i == 0 else nf
                conv(f"{stack}.{i}.block.0", cin, nf)
                conv(f"{stack}.{i}.block.2", nf, nf)
                conv(f"{stack}.{i}.conv", cin, nf, k=1)
        conv("tail_conv1", nf, out_nc)
        conv("tail_conv2", nf, out_nc)
    return shapes


@pytest.mark.parametrize("which,upscale", [("RRDBNet", 4), ("RRDBNet", 2), ("RRDB", 4), ("RRDB", 2)])
def test_state_dict_with_design_names_loads_strict(which, upscale):
    shapes = design_md_shapes(NF, NB, GC, upscale=upscale, edl=which == "RRDBNet")
    gen = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=gen) for key, shape in shapes.items()}
    net = tiny_generator(which, upscale)
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == shapes
    net.load_state_dict(state, strict=True)
    assert torch.equal(net.state_dict()["RRDB_trunk.1.RDB3.conv5.weight"], state["RRDB_trunk.1.RDB3.conv5.weight"])


@pytest.mark.parametrize("upscale", [2, 4])
def test_output_shapes_and_sum_of_branches(upscale):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 6, 7)
    y, y_p, y_1 = tiny_generator("RRDBNet", upscale)(x)
    assert y.shape == y_p.shape == y_1.shape == (2, 3, 6 * upscale, 7 * upscale)
    torch.testing.assert_close(y, y_p + y_1)
    plain = tiny_generator("RRDB", upscale)(x)
    assert plain.shape == (2, 3, 6 * upscale, 7 * upscale)
    assert generator_outputs((y, y_p, y_1))[0] is y and generator_outputs(plain)[0] is plain


def test_edl_head_follows_the_method():
    """mid from the trunk (same weights as a plain RRDBNet), softmax mask over channels, two masked branches."""
    torch.manual_seed(1)
    edl = tiny_generator("RRDBNet").eval()
    plain = tiny_generator("RRDB").eval()
    plain.load_state_dict({k: v for k, v in edl.state_dict().items() if k in plain.state_dict()})
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        y, y_p, y_1 = edl(x)
        mid = plain(x)
        logits = edl.sm[2](edl.sm[1](edl.sm[0](mid)))
        mask = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
        expected_p = edl.tail_conv1(mask * edl.branch1(mid))
        expected_1 = edl.tail_conv2((1 - mask) * edl.branch2(mid))
    torch.testing.assert_close(y_p, expected_p)
    torch.testing.assert_close(y_1, expected_1)
    assert mask.shape[1] == NF


def test_global_residual_adds_bicubic_input_to_l1_branch():
    x = torch.rand(1, 3, 6, 6)
    net = tiny_generator("RRDBNet", 4, global_residual=True)
    for tail in (net.tail_conv1, net.tail_conv2):
        torch.nn.init.zeros_(tail.weight)
        torch.nn.init.zeros_(tail.bias)
    with torch.no_grad():
        y, y_p, y_1 = net(x)
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.count_nonzero(y_p) == 0
    torch.testing.assert_close(y_1, bicubic)
    torch.testing.assert_close(y, bicubic)


@pytest.mark.parametrize("upscale", [2, 4])
def test_plain_rrdb_global_residual_is_bicubic_plus_the_network(upscale):
    """which_model_G RRDB with global_residual: y = conv_last(...) + bicubic(x), no extra parameters."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 6, 7)
    net = tiny_generator("RRDB", upscale, global_residual=True).eval()
    assert net.state_dict().keys() == tiny_generator("RRDB", upscale).state_dict().keys()
    bicubic = F.interpolate(x, scale_factor=upscale, mode="bicubic", align_corners=False)
    with torch.no_grad():
        y = net(x)
        assert y.shape == (2, 3, 6 * upscale, 7 * upscale)
        torch.testing.assert_close(y, net.reconstruct(x) + bicubic)
        torch.nn.init.zeros_(net.conv_last.weight)
        torch.nn.init.zeros_(net.conv_last.bias)
        torch.testing.assert_close(net(x), bicubic)


def test_plain_rrdb_global_residual_round_trip_and_edl_trunk(tmp_path):
    """Saved with its options, it is rebuilt with the residual; its weights fill an EDL trunk (the ablation's start)."""
    from rwsr.inference.model_loading import load_generator
    from rwsr.archs.network_files import save_network
    torch.manual_seed(0)
    source = tiny_generator("RRDB", 4, global_residual=True).eval()
    options = dict(TINY, which_model_G="RRDB", upscale=4, global_residual=True)
    path = save_network(source, tmp_path / "G.safetensors", metadata=dict(options, scale=4))
    with captured_project_log():
        loaded = load_generator(path)
    net, inferred = loaded.net, loaded.options
    assert inferred == options and net.global_residual
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), source(x))
    edl = tiny_generator("RRDBNet", 4, global_residual=True).eval()
    from rwsr.archs.network_files import load_network
    with captured_project_log() as log:
        report = load_network(edl, path, strict=False)
    assert set(report.loaded) == set(source.state_dict()) and "partial load" in log.text()
    with torch.no_grad():
        torch.testing.assert_close(edl.reconstruct(x), source.reconstruct(x))


def test_esrgan_initialisation_statistics():
    torch.manual_seed(0)
    net = build_generator(dict(which_model_G="RRDB", nf=16, nb=2, gc=16, upscale=4))
    normalised, biases = [], []
    for name, module in net.named_modules():
        if ".RDB" in name and isinstance(module, torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            normalised.append((module.weight / (0.1 * (2.0 / fan_in) ** 0.5)).flatten())
            biases.append(module.bias)
    assert len(normalised) == 2 * 3 * 5
    values = torch.cat(normalised)
    assert abs(values.std().item() - 1.0) < 0.03 and abs(values.mean().item()) < 0.03
    assert all(torch.count_nonzero(b) == 0 for b in biases)
    # Layers outside the dense blocks keep PyTorch's default (unscaled) initialisation.
    fan_in = net.trunk_conv.weight[0].numel()
    assert net.trunk_conv.weight.std() > 3 * 0.1 * (2.0 / fan_in) ** 0.5


def test_bad_generator_options_are_one_line_errors():
    with pytest.raises(RwsrError, match=r"which_model_G: unknown generator 'SRResNet'; registered: RRDBNet, RRDB, or an import path module:Class"):
        build_generator(dict(which_model_G="SRResNet"))
    for scale in (8, 5, 6):  # RRDBNet upsamples by 1, 2, 3 or 4
        with pytest.raises(RwsrError, match=rf"upscale: {scale} is not supported.*1, 2, 3, 4") as err:
            tiny_generator("RRDBNet", scale)
        assert "\n" not in str(err.value)
    with pytest.raises(RwsrError, match="global_residual needs in_nc == out_nc, got 1 and 3"):
        build_generator(dict(TINY, which_model_G="RRDB", in_nc=1, global_residual=True))


def test_patchgan_layout_and_output():
    net = build_discriminator(dict(which_model_D="NLayerDiscriminator", in_nc=3, nf=8, nlayer=3))
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items() if k.endswith("weight")}
    # Official layout: conv(+bias) / [conv(no bias), BN, LReLU] x nlayer / conv(+bias) to one channel.
    assert shapes == {"model.0.weight": (8, 3, 4, 4), "model.2.weight": (16, 8, 4, 4), "model.3.weight": (16,),
                      "model.5.weight": (32, 16, 4, 4), "model.6.weight": (32,), "model.8.weight": (64, 32, 4, 4),
                      "model.9.weight": (64,), "model.11.weight": (1, 64, 4, 4)}
    assert "model.2.bias" not in net.state_dict() and "model.11.bias" in net.state_dict()
    # 128 -> 64 -> 32 -> 16 (strided) -> 15 -> 14 (stride-1 4x4 convolutions)
    assert net(torch.rand(2, 3, 128, 128)).shape == (2, 1, 14, 14)


def test_vgg128_discriminator_needs_128_inputs():
    net = build_discriminator(dict(which_model_D="discriminator_vgg_128", in_nc=3, nf=8))
    assert net(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    assert net.linear1.in_features == 8 * 8 * 4 * 4
    with pytest.raises(RwsrError, match="discriminator_vgg_128 needs 128x128 inputs, got 96x96"):
        net(torch.rand(2, 3, 96, 96))
    with pytest.raises(RwsrError, match="registered: NLayerDiscriminator, discriminator_vgg_128, or an import path"):
        build_discriminator(dict(which_model_D="UNet"))


def test_vgg_features_match_a_hand_built_forward(tmp_path):
    state = write_fake_vgg19(tmp_path / "vgg19-dcbb9e9d.pth")
    vgg = VGGFeatureExtractor(layer="conv2_1", weights_dir=str(tmp_path), download=False)
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = F.relu(F.conv2d((x - mean) / std, state["features.0.weight"], state["features.0.bias"], padding=1))
    h = F.max_pool2d(F.relu(F.conv2d(h, state["features.2.weight"], state["features.2.bias"], padding=1)), 2)
    expected = F.conv2d(h, state["features.5.weight"], state["features.5.bias"], padding=1)  # before its ReLU
    torch.testing.assert_close(vgg(x), expected)
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training and not any(m.training for m in vgg.modules())


def test_vgg_default_layer_is_conv5_4_before_relu():
    vgg = VGGFeatureExtractor(pretrained=False)
    assert len(vgg.features) == 35 and isinstance(vgg.features[-1], torch.nn.Conv2d)
    assert vgg(torch.rand(1, 3, 32, 32)).shape == (1, 512, 2, 2)


def test_vgg_bad_inputs(tmp_path):
    with pytest.raises(RwsrError, match="unknown VGG19 layer 'conv6_1'"):
        VGGFeatureExtractor(layer="conv6_1", pretrained=False)
    with pytest.raises(RwsrError) as err:
        VGGFeatureExtractor(weights_dir=str(tmp_path), download=False)
    message = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in message and str(tmp_path) in message and "feature_pretrained: false" in message
    assert "\n" not in message
    write_fake_vgg19(tmp_path / "vgg19-dcbb9e9d.pth", upto_conv=2)  # too short for conv2_1
    with pytest.raises(RwsrError, match="not torchvision VGG19 weights .features.5.weight"):
        VGGFeatureExtractor(layer="conv2_1", weights_dir=str(tmp_path), download=False)


def test_unreachable_download_fails_fast_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(backbones, "DOWNLOAD_ROOT", "http://127.0.0.1:9/models/")  # nothing listens on port 9
    with pytest.raises(RwsrError, match=r"alexnet-owt-7be5be79.pth not found in .* \(download failed"):
        backbones.resolve_backbone_file("alexnet", str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_default_backbone_folder_is_torch_hub_cache():
    import os
    assert backbones.backbone_folder(None) == os.path.join(torch.hub.get_dir(), "checkpoints")


def test_random_vgg_logs_a_warning():
    with captured_project_log() as log:
        VGGFeatureExtractor(layer="conv1_1", pretrained=False)
    assert "RANDOM weights" in log.text(logging.WARNING)
