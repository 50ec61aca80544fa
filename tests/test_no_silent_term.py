"""No silent term: every generator loss term a model computes and logs either reaches G through the
optimised total or is declared log-only (Objective.log_only), for every model and objective."""
import pytest
import torch
from torch.nn import functional as F

from rwsr.models import build_model
from rwsr.options import validate
from rwsr.runtime import cpu_runtime
from rwsr.utils.logger import get_logger

EXTRA = [{"type": "pixel", "weight": 0.3, "output": "y_1", "criterion": "l2", "name": "mse_1"},
         {"type": "exclusion", "weight": 0.05, "name": "excl_entry"}]

CONFIGS = {
    "sr": dict(model="sr"),
    "sr+losses": dict(model="sr", losses=EXTRA),
    "srgan": dict(model="srgan"),
    "srgan+align": dict(model="srgan", align_weight=0.01),
    "srgan+exclusion+losses": dict(model="srgan", exclusion_weight=0.1, losses=EXTRA),
    "srgan lsgan": dict(model="srgan", gan_type="lsgan"),
    "srgan without D": dict(model="srgan", gan_weight=0.0),
    "srgan RRDB": dict(model="srgan", which="RRDB", losses=[dict(EXTRA[0], output="y")]),
    "srgan_al": dict(model="srgan_al", exclusion_weight=0.1),
    "srgan_an": dict(model="srgan_an", losses=EXTRA),
    "srgan_r": dict(model="srgan_r", exclusion_weight=0.1, losses=EXTRA),
    "srgan_r+align": dict(model="srgan_r", align_weight=0.01),
}


def build(model, which="RRDBNet", **train):
    raw = {"name": "terms", "model": model, "scale": 4, "device": "cpu",
           "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 2, "GT_size": 32}},
           "network_G": {"which_model_G": which, "nf": 8, "nb": 1, "gc": 8},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
           "train": dict({"niter": 3, "pixel_weight": 0.5, "feature_weight": 0.2, "feature_pretrained": False,
                          "feature_layer": "conv2_2", "gan_weight": 0.3, "cr_weight": 0.1}, **train)}
    torch.manual_seed(0)
    return build_model(validate(raw), cpu_runtime(), get_logger())


def batch():
    gen = torch.Generator().manual_seed(2)
    gt = torch.rand(2, 3, 32, 32, generator=gen)
    return F.avg_pool2d(gt, 4), gt


def reaches(term, tensors):
    grads = torch.autograd.grad(term, tensors, retain_graph=True, allow_unused=True)
    return any(g is not None and bool(g.abs().sum() > 0) for g in grads)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_logged_term_is_optimised_or_declared_log_only(name):
    config = dict(CONFIGS[name])
    model = build(config.pop("model"), config.pop("which", "RRDBNet"), **config)
    lq, gt = batch()
    outputs = model.generator_output_dict(model.net_g(lq), gt)
    generated = list(dict.fromkeys(outputs.values()))  # G's outputs (one tensor for a single-output G)
    total, terms, log_only = model.generator_loss(outputs, gt)
    assert set(log_only) <= set(terms)
    for term_name, term in terms.items():
        if term_name == "l_g_total":
            assert term is total
            continue
        into_total = torch.autograd.grad(total, term, retain_graph=True, allow_unused=True)[0]
        if term_name in log_only:
            assert into_total is None, f"{term_name} is declared log-only but enters the total"
        else:
            assert into_total is not None and bool(into_total != 0), f"{term_name} is logged but not optimised"
            assert reaches(term, generated), f"{term_name} has no gradient path into G"
    assert all(output.requires_grad and output.grad_fn is not None for output in generated)  # G's own outputs
    # the step logs exactly these terms
    logged = {key for key in model.optimize(1, lq, gt) if key.startswith(("l_g_", "l_pix"))}
    assert logged == set(terms)


def test_the_extra_entries_are_logged_under_their_names():
    model = build("srgan_an", losses=EXTRA)
    logs = model.optimize(1, *batch())
    assert {"l_g_mse_1", "l_g_excl_entry"} <= set(logs)
