"""`train.losses`: your own weighted generator terms, added to the objective of every model.

Each entry names a loss class (registered, or an import path `module:Class`) whose instance is called
as loss(output, gt) -> scalar tensor, output being y, y_p or y_1 of the generator; a class with an
`inputs` attribute (the exclusion loss: ("y_p", "y_1")) is called with those outputs instead. The
weighted term is logged as `l_g_<name>` and added after the model's own objective:
    L_G = objective(model) [+ exclusion_weight * exclusion] + sum_k weight_k * loss_k.
"""
import os
from dataclasses import dataclass
from typing import Callable, Tuple

import torch

from ..archs import GENERATOR_OUTPUTS
from ..losses import LOSSES
from ..options.schema import LOSS_ENTRY
from ..utils.errors import OptionError, RwsrError
from ..utils.registry import check_arguments, constructor_arguments


@dataclass(frozen=True)
class ExtraLoss:
    name: str
    weight: float
    inputs: Tuple[str, ...]  # generator outputs by name, and "gt"
    loss: Callable
    where: str  # train.losses[i], for messages


def plugin_search_dirs(opt):
    """Folders tried before PYTHONPATH for an option file's import paths: the option file's own."""
    return [os.path.dirname(opt["opt_path"])] if opt.get("opt_path") else []


def _context_arguments(opt):
    """Arguments a loss class receives from the options when its entry leaves them out (or null)."""
    return {"pretrained": opt["train"]["feature_pretrained"], "weights_dir": opt["path"]["pretrained_backbones"]}


def build_extra_losses(opt, device):
    """The train.losses entries of opt as ExtraLoss, each class resolved and its arguments checked."""
    built = []
    for index, entry in enumerate(opt["train"].get("losses") or []):
        where = f"train.losses[{index}]"
        cls, label = LOSSES.resolve(entry["type"], opt.get("plugins", ()), plugin_search_dirs(opt))
        kwargs = {key: value for key, value in entry.items() if key not in LOSS_ENTRY}
        takes = {argument.name for argument in constructor_arguments(cls)[0]}
        for key, value in _context_arguments(opt).items():
            if key in takes and kwargs.get(key) is None:
                kwargs[key] = value
        check_arguments(cls, label, kwargs, where)
        loss = cls(**kwargs)
        if isinstance(loss, torch.nn.Module):
            loss = loss.to(device)
        if not callable(loss):
            raise OptionError(f"{where}.type: {label} builds no callable loss")
        inputs = tuple(getattr(loss, "inputs", None) or (entry["output"] or "y", "gt"))
        unknown = [name for name in inputs if name not in GENERATOR_OUTPUTS + ("gt",)]
        if unknown:
            raise OptionError(f"{where}.type: {label}.inputs names {unknown[0]}; use y, y_p, y_1 or gt")
        built.append(ExtraLoss(entry["name"], float(entry["weight"]), inputs, loss, where))
    return built


def branch_outputs(extra_losses):
    """The generator outputs that the extra losses read."""
    return {name for extra in extra_losses for name in extra.inputs if name != "gt"}


def extra_terms(extra_losses, outputs, gt):
    """{name: weight * loss} in fp32 for the generator outputs (a dict y, y_p, y_1) and HR."""
    terms = {}
    for extra in extra_losses:
        values = [gt if name == "gt" else outputs[name] for name in extra.inputs]
        value = extra.loss(*values)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise RwsrError(f"{extra.where} ({extra.name}): the loss returned {shape}; return a scalar tensor "
                            "(e.g. a mean)")
        terms[extra.name] = extra.weight * value.reshape(()).float()
    return terms
