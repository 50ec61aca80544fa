"""Base class for fixed, pretrained feature networks used inside losses and metrics."""
from torch import nn


class FrozenNetwork(nn.Module):
    """Parameters never train and the module stays in eval mode even when a parent calls train()."""

    def freeze(self):
        for param in self.parameters():
            param.requires_grad_(False)
        return self.eval()

    def train(self, mode=True):
        return super().train(False)
