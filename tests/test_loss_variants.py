"""The authors' loss variants (srgan_al, srgan_an, srgan_r) and the align term.

Three levels: the scalar terms against hand-derived values and derivatives; each objective's
total and its gradient with respect to every term; and two whole training steps of each model
against an independent, plain-PyTorch implementation of the formula.
"""
import copy
import math

import pytest
import torch
from torch.nn import functional as F

from arch_helpers import captured_project_log
from rwsr.losses.contrastive import alignment, negative_pair, uniformity
from rwsr.models import build_model
from rwsr.runtime import cpu_runtime
from rwsr.models.edl_objectives import OBJECTIVES
from rwsr.options import validate
from rwsr.utils.errors import OptionError
from rwsr.utils.logger import get_logger

VARIANTS = ("srgan_al", "srgan_an", "srgan_r")


def scalar(value):
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------- scalar terms
def test_alignment_is_the_squared_difference():
    pixel, feature = scalar(0.3), scalar(0.05)
    value = alignment(pixel, feature)
    value.backward()
    assert value.item() == pytest.approx(0.0625)
    assert pixel.grad.item() == pytest.approx(0.5) and feature.grad.item() == pytest.approx(-0.5)


def test_uniformity_value_and_gradients():
    anchor, negatives = scalar(0.2), [scalar(0.1), scalar(-0.4), scalar(0.7)]
    exps = [math.exp(-2 * (0.2 + n) ** 2) for n in (0.1, -0.4, 0.7)]
    value = uniformity(anchor, negatives)
    value.backward()
    assert value.item() == pytest.approx(-math.log(sum(exps)), rel=1e-12)
    # d/dn_k = 4 (a + n_k) e_k / sum(e); d/da = sum over k
    expected = [4 * (0.2 + n) * e / sum(exps) for n, e in zip((0.1, -0.4, 0.7), exps)]
    assert [n.grad.item() for n in negatives] == pytest.approx(expected, rel=1e-12)
    assert anchor.grad.item() == pytest.approx(sum(expected), rel=1e-12)


def test_negative_pair_value_and_gradients():
    first, second = scalar(0.3), scalar(0.02)
    e1, e2 = math.exp(-0.6), math.exp(-0.04)
    value = negative_pair(first, second)
    value.backward()
    assert value.item() == pytest.approx(math.log((e1 + e2) / 2), rel=1e-12)
    assert first.grad.item() == pytest.approx(-2 * e1 / (e1 + e2), rel=1e-12)
    assert second.grad.item() == pytest.approx(-2 * e2 / (e1 + e2), rel=1e-12)


# ---------------------------------------------------------------- objectives on given terms
TERM_VALUES = {"pix": 0.11, "pix1": 0.23, "pix2": 0.07, "fea": 0.4, "gan": 0.9, "gan1": 0.6, "gan2": 0.8}


def objective_gradients(model, cr, align, present=TERM_VALUES):
    terms = {name: scalar(value) for name, value in present.items()}
    total, extra = OBJECTIVES[model].loss(terms, cr, align)
    total.backward()
    return total.item(), {name: value.item() for name, value in extra.items()}, \
        {name: (t.grad.item() if t.grad is not None else 0.0) for name, t in terms.items()}


def test_srgan_objective_is_pix2_plus_fea_plus_gan1():
    total, extra, grads = objective_gradients("srgan", cr=0.5, align=0.0)
    assert total == pytest.approx(0.07 + 0.4 + 0.6) and extra == {}
    assert grads == pytest.approx({"pix": 0, "pix1": 0, "pix2": 1, "fea": 1, "gan": 0, "gan1": 1, "gan2": 0})


def test_srgan_objective_leaves_out_disabled_terms():
    total, _, _ = objective_gradients("srgan", cr=None, align=0.0, present={"pix2": 0.07, "gan1": 0.6})
    assert total == pytest.approx(0.67)


def test_align_term_of_srgan():
    total, extra, grads = objective_gradients("srgan", cr=None, align=0.3)
    align = 0.3 * (0.07 - 0.4) ** 2
    assert extra == pytest.approx({"align": align})
    assert total == pytest.approx(0.07 + 0.4 + 0.6 + align)
    assert grads["pix2"] == pytest.approx(1 + 0.6 * (0.07 - 0.4))
    assert grads["fea"] == pytest.approx(1 - 0.6 * (0.07 - 0.4))


def test_srgan_al_objective():
    cr, align = 0.5, 0.01
    total, extra, grads = objective_gradients("srgan_al", cr, align)
    p = TERM_VALUES
    exps = {n: math.exp(-2 * (p["pix"] + p[n]) ** 2) for n in ("gan", "gan1", "gan2")}
    uniform = -math.log(sum(exps.values()))
    assert extra == pytest.approx({"align": align * (p["pix2"] - p["fea"]) ** 2, "cr": cr * uniform})
    assert total == pytest.approx(p["pix2"] + p["fea"] + p["gan1"] + sum(extra.values()))
    d_neg = {n: cr * 4 * (p["pix"] + p[n]) * e / sum(exps.values()) for n, e in exps.items()}
    assert grads == pytest.approx({"pix": sum(d_neg.values()), "pix1": 0.0,
                                   "pix2": 1 + 2 * align * (p["pix2"] - p["fea"]),
                                   "fea": 1 - 2 * align * (p["pix2"] - p["fea"]),
                                   "gan": d_neg["gan"], "gan1": 1 + d_neg["gan1"], "gan2": d_neg["gan2"]})


def test_srgan_an_objective():
    cr, align = 0.5, 0.01
    total, extra, grads = objective_gradients("srgan_an", cr, align)
    p = TERM_VALUES
    e2, e1 = math.exp(-2 * p["pix2"]), math.exp(-2 * p["gan1"])
    assert extra == pytest.approx({"align": align * (p["pix2"] - p["fea"]) ** 2, "cr": cr * math.log((e2 + e1) / 2)})
    assert total == pytest.approx(p["pix2"] + p["fea"] + p["gan1"] + sum(extra.values()))
    assert grads == pytest.approx({"pix": 0.0, "pix1": 0.0,
                                   "pix2": 1 + 2 * align * (p["pix2"] - p["fea"]) - cr * 2 * e2 / (e1 + e2),
                                   "fea": 1 - 2 * align * (p["pix2"] - p["fea"]),
                                   "gan": 0.0, "gan1": 1 - cr * 2 * e1 / (e1 + e2), "gan2": 0.0})


def test_srgan_r_objective():
    cr = 0.5
    total, extra, grads = objective_gradients("srgan_r", cr, align=0.0)
    p = TERM_VALUES
    ratio = cr * (p["gan"] + p["fea"]) / p["pix1"]
    assert extra == pytest.approx({"cr": ratio})
    assert total == pytest.approx(0.01 * p["pix2"] + 1e-4 * p["fea"] + p["gan1"] + ratio)
    assert grads == pytest.approx({"pix": 0.0, "pix1": -ratio / p["pix1"], "pix2": 0.01,
                                   "fea": 1e-4 + cr / p["pix1"], "gan": cr / p["pix1"], "gan1": 1.0,
                                   "gan2": 0.0})


def test_srgan_r_with_zero_pix1_is_not_finite():
    total, _, _ = objective_gradients("srgan_r", 0.5, 0.0, present=dict(TERM_VALUES, pix1=0.0))
    assert not math.isfinite(total)


# ---------------------------------------------------------------- whole steps vs a plain implementation
W_PIX, W_FEA, W_GAN, CR = 0.5, 0.2, 0.3, 0.7


def variant_options(model, **train):
    raw = {"name": "variants", "model": model, "scale": 4, "device": "cpu",
           "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 2, "GT_size": 32}},
           "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
           "train": dict({"niter": 10, "lr_G": 1e-3, "lr_D": 2e-3, "beta1_G": 0.5, "beta2_G": 0.9, "beta1_D": 0.8,
                          "weight_decay_G": 0.1, "weight_decay_D": 0.05,
                          "pixel_weight": W_PIX, "feature_weight": W_FEA, "feature_pretrained": False,
                          "feature_layer": "conv2_2", "gan_type": "ragan", "gan_weight": W_GAN, "cr_weight": CR},
                         **train)}
    return validate(raw)


def make_variant(model, **train):
    torch.manual_seed(0)
    return build_model(variant_options(model, **train), cpu_runtime(), get_logger())


def batches(count=3):
    """Three steps: Adam's betas change the update only from the second step on."""
    gen = torch.Generator().manual_seed(5)
    out = []
    for _ in range(count):
        gt = torch.rand(2, 3, 32, 32, generator=gen)
        lq = (F.avg_pool2d(gt, 4) + 0.02 * torch.randn(2, 3, 8, 8, generator=gen)).clamp(0, 1)
        out.append((lq, gt))
    return out


class PlainEDLStep:
    """The generator and discriminator updates written out directly from the loss table."""

    def __init__(self, model, net_g, net_d, vgg, align):
        self.model, self.net_g, self.net_d, self.vgg, self.align = model, net_g, net_d, vgg, align
        self.opt_g = torch.optim.Adam(net_g.parameters(), lr=1e-3, betas=(0.5, 0.9), weight_decay=0.1)
        self.opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-3, betas=(0.8, 0.999), weight_decay=0.05)

    @staticmethod
    def bce(logits, label):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))

    def relativistic_g(self, fake, real):
        return W_GAN * (self.bce(real - fake.mean(), 0.0) + self.bce(fake - real.mean(), 1.0)) / 2

    def step(self, lq, gt):
        for p in self.net_d.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        y, y_p, y_1 = self.net_g(lq)
        pix, pix1, pix2 = (W_PIX * (out - gt).abs().mean() for out in (y, y_p, y_1))
        fea = W_FEA * (self.vgg(y) - self.vgg(gt).detach()).abs().mean()
        if self.model == "srgan":
            if self.align:  # the compiled build also shows y to D (its log holds the loss of y)
                self.net_d(y)
            d_fake_p = self.net_d(y_p)
            d_real = self.net_d(gt).detach()
            loss = pix2 + fea + self.relativistic_g(d_fake_p, d_real) + self.align * (pix2 - fea) ** 2
        elif self.model == "srgan_al":
            d_fake, d_fake_p, d_fake_1 = self.net_d(y), self.net_d(y_p), self.net_d(y_1)
            d_real = self.net_d(gt).detach()
            gan, gan1, gan2 = (self.relativistic_g(f, d_real) for f in (d_fake, d_fake_p, d_fake_1))
            base = pix2 + fea + gan1
            align = self.align * (pix2 - fea) ** 2
            unif = -torch.log(sum(torch.exp(-2 * (pix + n) ** 2) for n in (gan, gan1, gan2)))
            loss = base + CR * unif + align
        else:
            d_fake, d_fake_p = self.net_d(y), self.net_d(y_p)
            d_real = self.net_d(gt).detach()
            gan, gan1 = self.relativistic_g(d_fake, d_real), self.relativistic_g(d_fake_p, d_real)
            if self.model == "srgan_an":
                base = pix2 + fea + gan1
                align = self.align * (pix2 - fea) ** 2
                neg = torch.log((torch.exp(-2 * pix2) + torch.exp(-2 * gan1)) / 2)
                loss = base + CR * neg + align
            else:
                loss = 0.01 * pix2 + 1e-4 * fea + gan1 + CR * (gan + fea) / pix1
        loss.backward()
        self.opt_g.step()
        for p in self.net_d.parameters():
            p.requires_grad_(True)
        self.opt_d.zero_grad()
        d_real, d_fake = self.net_d(gt), self.net_d(y.detach())
        loss_d = (self.bce(d_real - d_fake.mean(), 1.0) + self.bce(d_fake - d_real.mean(), 0.0)) / 2
        loss_d.backward()
        self.opt_d.step()
        return loss.detach()


def assert_states_close(ours, reference, what):
    for name, value in reference.state_dict().items():
        assert torch.allclose(ours.state_dict()[name].float(), value.float(), rtol=1e-5, atol=1e-6), f"{what}.{name}"


@pytest.mark.parametrize("model, align", [("srgan", 0.0), ("srgan", 0.05), ("srgan_al", None), ("srgan_an", None),
                                          ("srgan_r", None), ("srgan_al", 0.3)])
def test_two_steps_equal_a_plain_implementation(model, align):
    ours = make_variant(model, align_weight=align)
    plain = PlainEDLStep(model, copy.deepcopy(ours.net_g), copy.deepcopy(ours.net_d),
                         copy.deepcopy(ours.feature_loss.vgg), ours.align_weight)
    expected_align = {"srgan": 0.0, "srgan_r": 0.0}.get(model, 0.01) if align is None else align
    assert ours.align_weight == expected_align
    initial_g = copy.deepcopy(ours.net_g.state_dict())
    for iteration, (lq, gt) in enumerate(batches(), start=1):
        ours.update_learning_rate(iteration)
        logs = ours.optimize(iteration, lq, gt)
        total = plain.step(lq, gt)
        assert logs["l_g_total"].item() == pytest.approx(total.item(), rel=1e-5)
    assert_states_close(ours.net_g, plain.net_g, "G")
    assert_states_close(ours.net_d, plain.net_d, "D")  # BatchNorm statistics too: same D calls in the same order
    assert any(not torch.equal(value, ours.net_g.state_dict()[name]) for name, value in initial_g.items())


@pytest.mark.parametrize("model, expected", [
    ("srgan", ["y_p", "gt", "gt", "y"]),
    ("srgan+align", ["y", "y_p", "gt", "gt", "y"]),
    ("srgan_al", ["y", "y_p", "y_1", "gt", "gt", "y"]),
    ("srgan_an", ["y", "y_p", "gt", "gt", "y"]),
    ("srgan_r", ["y", "y_p", "gt", "gt", "y"]),
])
def test_the_discriminator_sees_the_outputs_in_the_authors_order(model, expected):
    ours = make_variant("srgan", align_weight=0.01) if model == "srgan+align" else make_variant(model)
    lq, gt = batches()[0]
    with torch.no_grad():
        y, y_p, y_1 = ours.net_g(lq)
    candidates = {"y": y, "y_p": y_p, "y_1": y_1, "gt": gt}
    seen = []

    def record(module, args, out):
        match = [name for name, t in candidates.items() if t.shape == args[0].shape and torch.allclose(t, args[0])]
        seen.append(match[0] if match else "?")
    ours.net_d.register_forward_hook(record)
    ours.optimize(1, lq, gt)
    assert seen == expected


@pytest.mark.parametrize("model, terms", [
    ("srgan", {"pix", "pix1", "pix2", "fea", "gan1"}),
    ("srgan_al", {"pix", "pix1", "pix2", "fea", "gan", "gan1", "gan2", "align", "cr"}),
    ("srgan_an", {"pix", "pix1", "pix2", "fea", "gan", "gan1", "align", "cr"}),
    ("srgan_r", {"pix", "pix1", "pix2", "fea", "gan", "gan1", "cr"}),
])
def test_every_term_is_logged(model, terms):
    ours = make_variant(model, exclusion_weight=0.1)
    logs = ours.optimize(1, *batches()[0])
    expected = {f"l_g_{t}" for t in terms | {"excl", "total"}} | {"l_d_real", "l_d_fake", "D_real", "D_fake"}
    assert set(logs) == expected
    lq, gt = batches()[0]
    assert logs["l_g_pix1"].item() != logs["l_g_pix2"].item()


def test_exclusion_term_is_its_weight_times_the_loss_of_the_two_branches():
    from rwsr.archs import generator_outputs
    from rwsr.losses import ExclusionLoss
    model = make_variant("srgan_an", exclusion_weight=0.25, exclusion_scales=2)
    lq, gt = batches()[0]
    with torch.no_grad():
        _, y_p, y_1 = generator_outputs(model.net_g(lq))
    expected = 0.25 * ExclusionLoss(2)(y_p, y_1).item()
    assert model.optimize(1, lq, gt)["l_g_excl"].item() == pytest.approx(expected, rel=1e-5)


def test_exclusion_term_adds_to_each_variant():
    without = make_variant("srgan_an")
    with_excl = make_variant("srgan_an", exclusion_weight=0.25)
    lq, gt = batches()[0]
    logs_without, logs_with = without.optimize(1, lq, gt), with_excl.optimize(1, lq, gt)
    assert logs_with["l_g_total"].item() == pytest.approx(
        logs_without["l_g_total"].item() + logs_with["l_g_excl"].item(), rel=1e-6)
    assert logs_with["l_g_excl"].item() > 0


# ---------------------------------------------------------------- options
@pytest.mark.parametrize("model", VARIANTS)
@pytest.mark.parametrize("gan_type", ["gan", "lsgan", "wgan-gp"])
def test_variants_need_the_relativistic_loss(model, gan_type):
    with pytest.raises(OptionError, match=r"^train\.gan_type: model srgan_\w+ is built on the relativistic loss"):
        variant_options(model, gan_type=gan_type)


@pytest.mark.parametrize("model", VARIANTS)
def test_variants_default_cr_weight_is_the_official_files_value(model):
    assert variant_options(model, cr_weight=None)["train"]["cr_weight"] == 1e-3
    assert variant_options(model, cr_weight=0.2)["train"]["cr_weight"] == 0.2
    assert variant_options("srgan", cr_weight=None)["train"]["cr_weight"] is None


@pytest.mark.parametrize("value", [0.0, -0.5, None])
@pytest.mark.parametrize("key", ["pixel_weight", "feature_weight", "gan_weight"])
def test_variants_need_every_weighted_term(key, value):
    with pytest.raises(OptionError, match=rf"^train\.{key}: model srgan_r needs a positive {key} \(got {value}\)"):
        variant_options("srgan_r", **{key: value})


def test_align_on_srgan_needs_pixel_and_feature_terms():
    with pytest.raises(OptionError, match=r"^train\.feature_weight: train\.align_weight > 0 needs"):
        variant_options("srgan", align_weight=0.01, feature_weight=0)
    assert variant_options("srgan", feature_weight=0)["train"]["align_weight"] == 0.0


def test_official_option_file_with_only_the_model_changed(repo_root):
    import os
    from rwsr.options import load_options
    for name in ("train_ntire.yml", "train_aim.yml"):
        path = os.path.join(repo_root, "options", "df2k", name)
        for model in VARIANTS:
            opt = load_options(path, [f"model={model}"])
            assert opt["model"] == model and opt["train"]["cr_weight"] == 1e-3
            assert opt["train"]["align_weight"] == (0.0 if model == "srgan_r" else 0.01)
        assert load_options(path)["train"]["align_weight"] == 0.0


def test_variant_models_report_nothing_unused():
    with captured_project_log() as log:
        make_variant("srgan_al")
    assert "unused" not in log.text()
