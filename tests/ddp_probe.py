"""Run under torchrun (2 CPU processes, gloo): a few EDL steps with and without gradient averaging.

Each rank trains on its own random batches. Writes <out>/<mode>_rank<r>.pt holding the G and D
parameters, mode "ddp" (the model as the trainer builds it) or "local" (the same model built
for a single process, so that nothing averages gradients).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes"))

from rwsr.engine.distributed import init_runtime, shutdown  # noqa: E402
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


def train_steps(runtime_for_model, rank, steps=3):
    seed_everything(5)
    model = build_model(validate(OPTIONS), runtime_for_model, setup_logger(None, rank=rank))
    data = torch.Generator().manual_seed(100 + rank)
    for iteration in range(1, steps + 1):
        gt = torch.rand(2, 3, 32, 32, generator=data)
        lq = torch.nn.functional.avg_pool2d(gt, 4)
        model.update_learning_rate(iteration)
        model.optimize(iteration, lq, gt)
    return {f"{name}.{key}": value.detach().clone() for name, net in model.networks().items()
            for key, value in net.named_parameters()}


def main(out_dir):
    runtime = init_runtime("pytorch", "cpu")
    try:
        local = Runtime(runtime.device, rank=runtime.rank, world_size=1)
        for mode, model_runtime in (("ddp", runtime), ("local", local)):
            torch.save(train_steps(model_runtime, runtime.rank), os.path.join(out_dir, f"{mode}_rank{runtime.rank}.pt"))
    finally:
        shutdown(runtime)


if __name__ == "__main__":
    main(sys.argv[1])
