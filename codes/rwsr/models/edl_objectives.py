"""Generator losses of the EDL model: the published `srgan` and the authors' variants.

Every objective is a function of the weighted batch-mean terms of one generator step,
  pix, pix1, pix2: pixel loss of y, y_p, y_1;  fea: feature loss of y;
  gan, gan1, gan2: relativistic adversarial loss of y, y_p, y_1,
and of the weights cr (train.cr_weight) and align (train.align_weight). It returns the
generator loss and the extra terms it added, by name, for the log. Variants read from the
authors' compiled code (`SRGAN_al_model`, `SRGAN_an_model`, `SRGAN_R_model`); the option
loader makes sure that every term a variant reads exists.
"""
from dataclasses import dataclass
from typing import Callable, Tuple

from ..losses.contrastive import alignment, negative_pair, uniformity

# In srgan_r the pixel and feature terms are scaled by constants of the compiled code.
SRGAN_R_PIXEL_SCALE = 0.01
SRGAN_R_FEATURE_SCALE = 1e-4


@dataclass(frozen=True)
class Objective:
    # Generator outputs the discriminator judges in the generator step, in the order the
    # authors' code calls it (D(HR) follows); its BatchNorm statistics depend on that order.
    adversarial_inputs: Tuple[str, ...]
    loss: Callable
    # Terms computed for the log only (as the authors' code logs them): the loss never reads them.
    # tests/test_no_silent_term.py checks that every other logged term reaches G through the total.
    log_only: Tuple[str, ...] = ()


def _with_extra(base, extra):
    """base + the cr term + the align term. The order in which terms are built and added is the
    authors' (align built first, cr added first): autograd then sums gradients in their order."""
    total = base
    for name in ("cr", "align"):
        if name in extra:
            total = total + extra[name]
    return total, extra


def _align(terms, align):
    return {"align": align * alignment(terms["pix2"], terms["fea"])} if align else {}


def srgan_loss(terms, cr, align):
    """pix2 + fea + gan1 (+ align (pix2 - fea)^2); a term with weight 0 is left out."""
    return _with_extra(sum(terms[name] for name in ("pix2", "fea", "gan1") if name in terms), _align(terms, align))


def srgan_al_loss(terms, cr, align):
    base = terms["pix2"] + terms["fea"] + terms["gan1"]
    extra = _align(terms, align)
    extra["cr"] = cr * uniformity(terms["pix"], [terms["gan"], terms["gan1"], terms["gan2"]])
    return _with_extra(base, extra)


def srgan_an_loss(terms, cr, align):
    base = terms["pix2"] + terms["fea"] + terms["gan1"]
    extra = _align(terms, align)
    extra["cr"] = cr * negative_pair(terms["pix2"], terms["gan1"])
    return _with_extra(base, extra)


def srgan_r_loss(terms, cr, align):
    base = SRGAN_R_PIXEL_SCALE * terms["pix2"] + SRGAN_R_FEATURE_SCALE * terms["fea"] + terms["gan1"]
    extra = {"cr": cr * (terms["gan"] + terms["fea"]) / terms["pix1"]}
    extra.update(_align(terms, align))
    return _with_extra(base, extra)


OBJECTIVES = {
    "srgan": Objective(("y_p",), srgan_loss, log_only=("pix", "pix1")),
    # The authors' compiled build of srgan, which adds the align term, also lets D judge y (for its log).
    "srgan+align": Objective(("y", "y_p"), srgan_loss, log_only=("pix", "pix1", "gan")),
    "srgan_al": Objective(("y", "y_p", "y_1"), srgan_al_loss, log_only=("pix1",)),
    "srgan_an": Objective(("y", "y_p"), srgan_an_loss, log_only=("pix", "pix1", "gan")),
    "srgan_r": Objective(("y", "y_p"), srgan_r_loss, log_only=("pix",)),
}


def objective_for(model, align_weight):
    """The objective of `model`; srgan with an align term follows the compiled build's D calls."""
    return OBJECTIVES["srgan+align" if model == "srgan" and align_weight else model]
