"""Run under torchrun (2 CPU processes, gloo): 3 training steps of every objective with DDP.

`ddp_probe.py OUT`: for every configuration of OBJECTIVES, 3 steps with DDP (the model as the
trainer builds it) where each rank takes its half of a batch of 4; on rank 0 the same 3 steps in
one process on the whole batch ("single", and the "initial" weights); for the configurations of
UNAVERAGED also the steps of each rank's half without averaging ("local": a model built for one
process). Writes <out>/objectives_rank<r>.pt: {config: {kind: {"G.<param>"/"D.<param>": tensor}}}.

The discriminators of the GAN configurations are built without BatchNorm (BN_FREE): BatchNorm
normalises over each process's own half batch, a different function than over the whole batch,
which would hide what the comparison with the single-process run checks (the averaging).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.engine.distributed import init_runtime, shutdown  # noqa: E402
from rwsr.models import edl_model  # noqa: E402
from rwsr.engine.rng import seed_everything  # noqa: E402
from rwsr.models import build_model  # noqa: E402
from rwsr.runtime import Runtime  # noqa: E402
from rwsr.options import validate  # noqa: E402
from rwsr.utils.logger import setup_logger  # noqa: E402

OPTIONS = {
    "name": "probe", "model": "srgan", "scale": 4, "device": "cpu",
    "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 4, "GT_size": 32}},
    "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
    "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
    "train": {"niter": 3, "lr_G": 1e-3, "lr_D": 1e-3, "feature_weight": 0.0},
}
NO_FEATURE, NO_GAN, NO_PIXEL = {"feature_weight": 0.0}, {"gan_weight": 0.0}, {"pixel_weight": 0.0}
FEATURE = {"feature_weight": 1.0, "feature_layer": "conv1_2", "feature_pretrained": False}
# Every model, with and without the exclusion loss, and weights that leave parameters without gradient.
OBJECTIVES = {
    "sr": ("sr", {}, {}),
    "srgan": ("srgan", FEATURE, {}),
    "srgan_pixel_only": ("srgan", {**NO_FEATURE, **NO_GAN}, {}),
    "srgan_gan_only": ("srgan", {**NO_FEATURE, **NO_PIXEL}, {}),
    "srgan_pixel_gan": ("srgan", NO_FEATURE, {}),
    "srgan_lsgan": ("srgan", {**NO_FEATURE, "gan_type": "lsgan"}, {}),
    "srgan_align": ("srgan", {**FEATURE, "align_weight": 0.01}, {}),
    "srgan_al": ("srgan_al", FEATURE, {}),
    "srgan_an": ("srgan_an", FEATURE, {}),
    "srgan_r": ("srgan_r", FEATURE, {}),
    "srgan_exclusion": ("srgan", {**FEATURE, "exclusion_weight": 0.01}, {}),
    "srgan_pixel_exclusion": ("srgan", {**NO_FEATURE, **NO_GAN, "exclusion_weight": 0.01}, {}),
    "srgan_al_exclusion": ("srgan_al", {**FEATURE, "exclusion_weight": 0.01}, {}),
    "srgan_an_exclusion": ("srgan_an", {**FEATURE, "exclusion_weight": 0.01}, {}),
    "srgan_r_exclusion": ("srgan_r", {**FEATURE, "exclusion_weight": 0.01}, {}),
    "srgan_wgan_gp": ("srgan", {**NO_FEATURE, "gan_type": "wgan-gp"}, {}),
    "srgan_d_update_ratio": ("srgan", {**NO_FEATURE, "D_update_ratio": 2}, {}),
    "rrdb_pixel_only": ("srgan", {**NO_FEATURE, **NO_GAN}, {"which_model_G": "RRDB"}),
}
UNAVERAGED = ("srgan_pixel_only", "srgan_lsgan", "srgan")


def options(model="srgan", train=None, network_g=None):
    opt = dict(OPTIONS, model=model, train=dict(OPTIONS["train"], **(train or {})),
               network_G=dict(OPTIONS["network_G"], **(network_g or {})))
    return validate(opt)


def without_batchnorm(net):
    """net with every BatchNorm layer replaced by the identity."""
    for name, child in net.named_children():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            setattr(net, name, torch.nn.Identity())
        else:
            without_batchnorm(child)
    return net


def parameters(model):
    return {f"{name}.{key}": value.detach().clone() for name, net in model.networks().items()
            for key, value in net.named_parameters()}


def train_steps(runtime, opt, batches):
    """Parameters after one step per batch, and before the first."""
    seed_everything(5)
    model = build_model(opt, runtime, setup_logger(None, rank=runtime.rank))
    initial = parameters(model)
    for iteration, gt in enumerate(batches, start=1):
        model.update_learning_rate(iteration)
        model.optimize(iteration, torch.nn.functional.avg_pool2d(gt, 4), gt)
    return parameters(model), initial


def main(out_dir):
    runtime = init_runtime("pytorch", "cpu")
    original = edl_model.build_discriminator
    edl_model.build_discriminator = lambda *args, **kwargs: without_batchnorm(original(*args, **kwargs))
    local = Runtime(runtime.device, rank=runtime.rank, world_size=1)
    results = {}
    try:
        for name, (model, train, network_g) in OBJECTIVES.items():
            opt = options(model, train, network_g)
            data = torch.Generator().manual_seed(7)
            batches = [torch.rand(4, 3, 32, 32, generator=data) for _ in range(3)]
            mine = [batch[2 * runtime.rank: 2 * runtime.rank + 2] for batch in batches]
            results[name] = {"ddp": train_steps(runtime, opt, mine)[0]}
            if name in UNAVERAGED:
                results[name]["local"] = train_steps(local, opt, mine)[0]
            if runtime.is_main:
                results[name]["single"], results[name]["initial"] = train_steps(local, opt, batches)
        torch.save(results, os.path.join(out_dir, f"objectives_rank{runtime.rank}.pt"))
    finally:
        shutdown(runtime)


if __name__ == "__main__":
    main(sys.argv[1])
