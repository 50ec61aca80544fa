"""Names and import paths: registered architectures and losses, your own classes from your own modules,
their keyword arguments checked against the constructors, train.losses, plugin generator checkpoints."""
import inspect
import sys
import textwrap

import pytest
import torch
import yaml

from rwsr.archs import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from rwsr.archs.network_files import read_checkpoint, save_network
from rwsr.losses import LOSSES
from rwsr.models import build_model
from rwsr.options import dump_options, validate
from rwsr.options.schema import (DISCRIMINATOR_ARGUMENTS, GENERATOR_ARGUMENTS, LOSS_ARGUMENTS, LOSS_ENTRY, NETWORK_D,
                                 NETWORK_G)
from rwsr.runtime import cpu_runtime
from rwsr.utils.errors import OptionError, RwsrError
from rwsr.utils.logger import get_logger

PLUGIN_NETS = '''
import torch
from torch import nn
from torch.nn import functional as F

IMPORTED = True


class TinyNet(nn.Module):
    def __init__(self, width, upscale=4, bias=True):
        super().__init__()
        self.upscale = upscale
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=bias), nn.ReLU(),
                                  nn.Conv2d(width, 3 * upscale * upscale, 3, padding=1), nn.PixelShuffle(upscale))

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.upscale, mode="bicubic", align_corners=False) + self.body(x)


class TinyDualNet(TinyNet):
    def forward(self, x):
        y_p = self.body(x)
        y_1 = F.interpolate(x, scale_factor=self.upscale, mode="bicubic", align_corners=False)
        return y_p + y_1, y_p, y_1
'''

PLUGIN_LOSSES = '''
import torch


class MeanShift(torch.nn.Module):
    """|mean(output) - mean(gt)| * scale."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = scale

    def forward(self, output, gt):
        return self.scale * (output.mean() - gt.mean()).abs()
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder holding test_plugin_nets.py and test_plugin_losses.py, forgotten by sys.modules afterwards."""
    (tmp_path / "test_plugin_nets.py").write_text(textwrap.dedent(PLUGIN_NETS))
    (tmp_path / "test_plugin_losses.py").write_text(textwrap.dedent(PLUGIN_LOSSES))
    for name in ("test_plugin_nets", "test_plugin_losses"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield tmp_path
    for name in ("test_plugin_nets", "test_plugin_losses"):
        sys.modules.pop(name, None)


def constructor_keywords(cls):
    return tuple(name for name in inspect.signature(cls).parameters)


# ---------------------------------------------------------------- the registered names agree with the code
def test_registered_architectures_match_the_schema_and_their_constructors():
    assert GENERATORS.names() == tuple(GENERATOR_ARGUMENTS) == NETWORK_G["which_model_G"].choices
    assert DISCRIMINATORS.names() == tuple(DISCRIMINATOR_ARGUMENTS) == NETWORK_D["which_model_D"].choices
    for registry, table, section in ((GENERATORS, GENERATOR_ARGUMENTS, NETWORK_G),
                                     (DISCRIMINATORS, DISCRIMINATOR_ARGUMENTS, NETWORK_D)):
        for name, arguments in table.items():
            assert constructor_keywords(registry.entries[name]) == arguments, name
            assert set(arguments) <= set(section), name  # each is a documented network_G / network_D key


def test_registered_losses_match_the_schema_and_their_constructors():
    assert set(LOSSES.names()) == set(LOSS_ARGUMENTS) | {"gan"}
    assert LOSS_ENTRY["type"].choices == tuple(LOSS_ARGUMENTS)
    for name, table in LOSS_ARGUMENTS.items():
        assert constructor_keywords(LOSSES.entries[name]) == tuple(table), name


def test_an_unknown_name_lists_the_registered_ones_and_the_import_path_form():
    with pytest.raises(OptionError, match=r"network_G\.which_model_G: unknown generator 'RRDBnet'; registered: "
                                          r"RRDBNet, RRDB, or an import path module:Class .*did you mean RRDBNet\?"):
        build_generator({"which_model_G": "RRDBnet"})
    with pytest.raises(OptionError, match=r"'SwinIR' is not one of RRDBNet, RRDB \(or an import path module:Class\)"):
        validate({"name": "x", "network_G": {"which_model_G": "SwinIR"}}, phase="test")


# ---------------------------------------------------------------- your own classes
def test_a_plugin_generator_is_built_with_its_keyword_arguments(plugin_dir):
    net = build_generator({"which_model_G": "test_plugin_nets:TinyNet", "width": 4, "scale": 3},
                          plugins=("test_plugin_nets",), search_dirs=[plugin_dir])
    assert type(net).__name__ == "TinyNet" and net.upscale == 3  # upscale from the scale
    assert net(torch.rand(1, 3, 5, 7)).shape == (1, 3, 15, 21)
    assert net.body[0].out_channels == 4


@pytest.mark.parametrize("keys, message", [
    ({"widht": 4}, r"network_G\.widht: test_plugin_nets:TinyNet takes no argument widht; did you mean width\? "
                   r"its keyword arguments: width, upscale, bias"),
    ({}, r"network_G\.width: required by test_plugin_nets:TinyNet \(its keyword arguments: width, upscale, bias\)"),
])
def test_plugin_arguments_are_checked_against_the_constructor(plugin_dir, keys, message):
    with pytest.raises(OptionError, match=message):
        build_generator(dict(which_model_G="test_plugin_nets:TinyNet", **keys), plugins=("test_plugin_nets",),
                        search_dirs=[plugin_dir])


def test_a_module_not_allowed_is_never_imported(plugin_dir):
    with pytest.raises(OptionError, match=r"test_plugin_nets:TinyNet comes from the module test_plugin_nets, .*"
                                          r"pass --plugin test_plugin_nets .*nothing was imported"):
        build_generator({"which_model_G": "test_plugin_nets:TinyNet", "width": 4}, search_dirs=[plugin_dir])
    assert "test_plugin_nets" not in sys.modules


@pytest.mark.parametrize("name, message", [
    ("test_plugin_nets:Missing", r"the module test_plugin_nets \(.*test_plugin_nets\.py\) has no Missing"),
    ("test_plugin_nets:IMPORTED", r"test_plugin_nets:IMPORTED is not a class"),
    ("no_such_module_here:Net", r"cannot import the module no_such_module_here of no_such_module_here:Net"),
])
def test_import_path_errors_are_one_line_option_errors(plugin_dir, name, message):
    module = name.split(":")[0]
    with pytest.raises(OptionError, match=message):
        build_generator({"which_model_G": name}, plugins=(module,), search_dirs=[plugin_dir])


def test_a_plugin_discriminator(plugin_dir):
    (plugin_dir / "test_plugin_nets.py").write_text(textwrap.dedent(PLUGIN_NETS) + textwrap.dedent('''
        class OneConv(nn.Module):
            def __init__(self, nf=4):
                super().__init__()
                self.conv = nn.Conv2d(3, nf, 3)

            def forward(self, x):
                return self.conv(x)
        '''))
    net = build_discriminator({"which_model_D": "test_plugin_nets:OneConv", "nf": 5, "sync_bn": False},
                              plugins=("test_plugin_nets",), search_dirs=[plugin_dir])
    assert net.conv.out_channels == 5


# ---------------------------------------------------------------- options
def base_options(tmp_path, **top):
    raw = {"name": "plugins", "model": "srgan", "scale": 4, "device": "cpu",
           "datasets": {"train": {"dataroot_GT": str(tmp_path), "batch_size": 2, "GT_size": 24}},
           "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
           "train": {"niter": 3, "feature_weight": 0.0, "pixel_weight": 0.5, "gan_weight": 0.1}}
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = dict(raw[key], **value)
        else:
            raw[key] = value
    return raw


def test_an_import_path_keeps_its_keys_and_allows_its_module(tmp_path):
    raw = base_options(tmp_path, scale=3, plugins=["extra_module"],
                       network_G={"which_model_G": "my_nets:TinyNet", "width": 8, "nf": None},
                       train={"losses": [{"type": "my_losses.sub:Edge", "weight": 2, "power": 2}]})
    raw["network_G"].pop("nf")
    raw["network_G"].pop("nb")
    raw["network_G"].pop("gc")
    opt = validate(raw)
    assert opt["network_G"] == {"which_model_G": "my_nets:TinyNet", "width": 8}
    assert opt["train"]["losses"] == [{"type": "my_losses.sub:Edge", "weight": 2.0, "output": "y", "name": "Edge",
                                       "power": 2}]
    assert opt["plugins"] == ["extra_module", "my_nets", "my_losses.sub"]
    assert validate(dict(raw, scale=8))["scale"] == 8  # the generator decides which scales it supports
    raw["train"]["losses"].append({"type": "exclusion", "weight": 0.1})
    opt = validate(raw)
    assert validate(yaml.safe_load(dump_options(opt))) == opt  # an experiment's options.yml reads back the same


@pytest.mark.parametrize("entry, message", [
    ({"type": "gan", "weight": 1}, r"train\.losses\[0\]\.type: gan is the adversarial loss .*set train\.gan_weight"),
    ({"type": "pixle", "weight": 1}, r"train\.losses\[0\]\.type: 'pixle' is not one of pixel, feature, lpips, "
                                     r"exclusion \(or an import path module:Class\)"),
    ({"type": "pixel"}, r"train\.losses\[0\]\.weight: required option is missing"),
    ({"type": "pixel", "weight": 1, "crit": "l2"}, r"train\.losses\[0\]\.crit: unknown option; did you mean "
                                                   r"train\.losses\[0\]\.criterion\?"),
    ({"type": "pixel", "weight": 1, "output": "y_2"}, r"train\.losses\[0\]\.output: 'y_2' is not one of y, y_p, y_1"),
    ({"type": "exclusion", "weight": 1, "output": "y"}, r"train\.losses\[0\]\.output: exclusion compares y_p with "
                                                        r"y_1; drop output"),
    ({"type": "pixel", "weight": 1, "name": "pix2"}, r"train\.losses\[0\]\.name: pix2 is already a term of the "
                                                     r"models' own losses"),
    ({"type": "pixel", "weight": 1, "name": "l-1"}, r"train\.losses\[0\]\.name: 'l-1' must be a plain identifier"),
])
def test_bad_loss_entries_are_option_errors(tmp_path, entry, message):
    with pytest.raises(OptionError, match=message):
        validate(base_options(tmp_path, train={"losses": [entry]}))


def test_two_entries_need_two_names(tmp_path):
    entries = [{"type": "pixel", "weight": 1}, {"type": "pixel", "weight": 2, "criterion": "l2"}]
    with pytest.raises(OptionError, match=r"train\.losses\[1\]\.name: pixel is already train\.losses\[0\]"):
        validate(base_options(tmp_path, train={"losses": entries}))
    entries[1]["name"] = "pixel_l2"
    assert [e["name"] for e in validate(base_options(tmp_path, train={"losses": entries}))["train"]["losses"]] == \
        ["pixel", "pixel_l2"]


@pytest.mark.parametrize("changes, message", [
    ({"model": "sr", "train": {"exclusion_weight": 0.01}}, r"train\.exclusion_weight: 0\.01 cannot apply \(model sr"),
    ({"network_G": {"which_model_G": "RRDB"}, "train": {"exclusion_weight": 0.01}},
     r"train\.exclusion_weight: 0\.01 cannot apply \(which_model_G: RRDB returns only y\)"),
    ({"network_G": {"which_model_G": "RRDB"}, "train": {"losses": [{"type": "pixel", "weight": 1, "output": "y_1"}]}},
     r"train\.losses\[0\]: pixel needs the branches y_p, y_1, but which_model_G: RRDB returns only y"),
    ({"model": "srgan_al", "network_G": {"which_model_G": "RRDB"}, "train": {"feature_weight": 1.0, "gan_weight": 5e-3}},
     r"model: srgan_al weighs the branches y_p and y_1, but which_model_G: RRDB returns only y"),
])
def test_losses_on_branches_a_generator_lacks_are_option_errors(tmp_path, changes, message):
    with pytest.raises(OptionError, match=message):
        validate(base_options(tmp_path, **changes))


# ---------------------------------------------------------------- models with your own classes
def plugin_model(tmp_path, plugin_dir, which="TinyNet", model="srgan", **train):
    raw = base_options(tmp_path, model=model, network_G={"which_model_G": f"test_plugin_nets:{which}", "width": 4},
                       train=train)
    for key in ("nf", "nb", "gc"):
        raw["network_G"].pop(key)
    opt = validate(raw)
    opt["opt_path"] = str(plugin_dir / "train.yml")  # the option file's folder is searched
    torch.manual_seed(0)
    return build_model(opt, cpu_runtime(), get_logger()), opt


def batch(scale=4, size=24):
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 3, size, size, generator=gen)
    return torch.nn.functional.avg_pool2d(gt, scale), gt


@pytest.mark.parametrize("model", ["sr", "srgan"])
def test_a_plugin_generator_trains_and_its_checkpoint_records_how_to_rebuild_it(tmp_path, plugin_dir, model):
    net_model, opt = plugin_model(tmp_path, plugin_dir, model=model)
    before = {k: v.clone() for k, v in net_model.net_g.state_dict().items()}
    logs = net_model.optimize(1, *batch())
    assert all(torch.isfinite(value) for value in logs.values())
    assert any(not torch.equal(before[k], v) for k, v in net_model.net_g.state_dict().items())
    # what a checkpoint records: the import path and the arguments the class was built with
    assert opt["network_G"] == {"which_model_G": "test_plugin_nets:TinyNet", "width": 4, "upscale": 4}


def test_a_single_output_plugin_with_a_branch_loss_stops_at_its_first_step(tmp_path, plugin_dir):
    net_model, _ = plugin_model(tmp_path, plugin_dir, exclusion_weight=0.1)
    with pytest.raises(OptionError, match=r"train\.exclusion_weight needs the branches y_p and y_1, but the "
                                          r"generator \(test_plugin_nets:TinyNet\) returns only y"):
        net_model.optimize(1, *batch())


def test_a_single_output_plugin_under_a_loss_variant_stops_at_its_first_step(tmp_path, plugin_dir):
    net_model, _ = plugin_model(tmp_path, plugin_dir, model="srgan_an", feature_weight=1.0, feature_pretrained=False,
                                feature_layer="conv2_2")
    with pytest.raises(OptionError, match=r"model srgan_an needs the branches y_p and y_1, but the "
                                          r"generator \(test_plugin_nets:TinyNet\) returns only y"):
        net_model.optimize(1, *batch())


def test_a_generator_of_another_scale_is_named_at_the_first_step(tmp_path, plugin_dir):
    net_model, _ = plugin_model(tmp_path, plugin_dir)
    with pytest.raises(RwsrError, match=r"network_G: the generator returns \(24, 24\) images for HR crops of "
                                          r"\(18, 18\) \(scale 4\); does it upscale by 4\?"):
        net_model.optimize(1, torch.rand(2, 3, 6, 6), torch.rand(2, 3, 18, 18))


def test_a_dual_output_plugin_with_its_own_loss_on_a_branch(tmp_path, plugin_dir):
    losses = [{"type": "test_plugin_losses:MeanShift", "weight": 0.5, "output": "y_1", "scale": 3.0}]
    net_model, opt = plugin_model(tmp_path, plugin_dir, which="TinyDualNet", model="srgan_an", losses=losses,
                                  exclusion_weight=0.1, feature_weight=0.1, feature_pretrained=False,
                                  feature_layer="conv2_2")
    lq, gt = batch()
    with torch.no_grad():
        outputs = net_model.generator_output_dict(net_model.net_g(lq), gt)
        total, terms, _ = net_model.generator_loss(outputs, gt)
    expected = 0.5 * 3.0 * (outputs["y_1"].mean() - gt.mean()).abs()
    assert terms["l_g_MeanShift"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert "test_plugin_losses" in opt["plugins"]


def test_an_entry_adds_exactly_its_weighted_term_to_every_objective(tmp_path):
    """The same step with and without one train.losses entry: totals differ by weight * loss, nothing else."""
    lq, gt = batch()
    for model in ("sr", "srgan", "srgan_al", "srgan_an", "srgan_r"):
        common = dict(model=model, train={"cr_weight": 0.1, "feature_weight": 0.2, "feature_pretrained": False,
                                          "feature_layer": "conv2_2"})
        plain = build(base_options(tmp_path, **common))
        entry = {"type": "pixel", "weight": 0.25, "output": "y_p", "criterion": "l2", "name": "mse_p"}
        common["train"] = dict(common["train"], losses=[entry])
        extended = build(base_options(tmp_path, **common))
        extended.net_g.load_state_dict(plain.net_g.state_dict())
        if getattr(plain, "net_d", None) is not None:
            extended.net_d.load_state_dict(plain.net_d.state_dict())
            extended.feature_loss.load_state_dict(plain.feature_loss.state_dict())
        with torch.no_grad():
            outputs = plain.generator_output_dict(plain.net_g(lq), gt)
            total_plain, terms_plain, _ = plain.generator_loss(outputs, gt)
            total, terms, _ = extended.generator_loss(outputs, gt)
        mse = 0.25 * ((outputs["y_p"] - gt) ** 2).mean()
        assert terms["l_g_mse_p"].item() == pytest.approx(mse.item(), rel=1e-6), model
        assert total.item() == pytest.approx(total_plain.item() + mse.item(), rel=1e-6), model
        assert set(terms) - set(terms_plain) == {"l_g_mse_p"} | ({"l_g_total"} if model == "sr" else set())


def build(raw):
    torch.manual_seed(0)
    return build_model(validate(raw), cpu_runtime(), get_logger())


# ---------------------------------------------------------------- plugin checkpoints at inference
def test_a_plugin_checkpoint_is_rebuilt_only_with_its_plugin(tmp_path, plugin_dir, monkeypatch):
    from rwsr.inference.model_loading import load_generator

    net = build_generator({"which_model_G": "test_plugin_nets:TinyNet", "width": 4, "scale": 2},
                          plugins=("test_plugin_nets",), search_dirs=[plugin_dir])
    path = save_network(net, tmp_path / "G.pth",
                        metadata={"which_model_G": "test_plugin_nets:TinyNet", "width": 4, "upscale": 2,
                                  "bias": True, "scale": 2})
    assert read_checkpoint(path)[1]["which_model_G"] == "test_plugin_nets:TinyNet"
    sys.modules.pop("test_plugin_nets")
    monkeypatch.chdir(plugin_dir)  # the module is findable: only the missing --plugin stops it
    with pytest.raises(OptionError, match=r"test_plugin_nets:TinyNet .*pass --plugin test_plugin_nets"):
        load_generator(str(path))
    assert "test_plugin_nets" not in sys.modules
    loaded = load_generator(str(path), plugins=("test_plugin_nets",))
    x = torch.rand(1, 3, 6, 6)
    assert torch.equal(loaded.net(x), net.eval()(x))
