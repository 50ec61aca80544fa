"""Terms the authors' loss variants build from the scalar batch losses (not from images).

Each takes weighted batch-mean losses (0-dim tensors) and returns a 0-dim tensor; gradients
flow through every argument.
"""
import torch

TEMPERATURE = 2  # the t of the authors' code, in both the exponent and the power


def alignment(pixel, feature):
    """(pixel - feature)^2: pulls the L1 branch's pixel loss and the feature loss together."""
    return (pixel - feature) ** 2


def uniformity(anchor, negatives):
    """-log sum_n exp(-t (anchor + n)^t) over the negatives (srgan_al's exclusionary term)."""
    return -torch.log(sum(torch.exp(-TEMPERATURE * (anchor + negative) ** TEMPERATURE) for negative in negatives))


def negative_pair(first, second):
    """log((exp(-t first) + exp(-t second)) / 2) (srgan_an's exclusionary term)."""
    return torch.log((torch.exp(-TEMPERATURE * first) + torch.exp(-TEMPERATURE * second)) / 2)
