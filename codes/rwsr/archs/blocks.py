"""Building blocks of the ESRGAN trunk and the EDL head.

Attribute names (RDB1, conv1, block, conv, ...) are part of the checkpoint format: they match
the official ESRGAN / RWSR-EDL code so that public weights load without renaming.
"""
import torch
from torch import nn


def scaled_kaiming_init(modules, scale):
    """ESRGAN initialisation: Kaiming normal (fan_in, ReLU gain) times `scale`, zero bias.

    The small scale keeps each residual branch close to identity at the start, which is what
    makes deep RRDB stacks trainable without batch normalisation.
    """
    for module in modules:
        nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        module.weight.data.mul_(scale)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def conv3x3(in_channels, out_channels):
    return nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=True)


class ResidualDenseBlock(nn.Module):
    """Five densely connected convolutions; the output is scaled by 0.2 and added to the input."""

    def __init__(self, nf=64, gc=32):
        super().__init__()
        self.conv1 = conv3x3(nf, gc)
        self.conv2 = conv3x3(nf + gc, gc)
        self.conv3 = conv3x3(nf + 2 * gc, gc)
        self.conv4 = conv3x3(nf + 3 * gc, gc)
        self.conv5 = conv3x3(nf + 4 * gc, nf)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        scaled_kaiming_init([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x):
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(self.lrelu(conv(torch.cat(features, 1))))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block: three dense blocks and a scaled outer residual."""

    def __init__(self, nf=64, gc=32):
        super().__init__()
        self.RDB1 = ResidualDenseBlock(nf, gc)
        self.RDB2 = ResidualDenseBlock(nf, gc)
        self.RDB3 = ResidualDenseBlock(nf, gc)

    def forward(self, x):
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with LeakyReLU, plus a 1x1 projection shortcut (the EDL head's unit)."""

    def __init__(self, in_channels, out_channels, slope=0.2):
        super().__init__()
        self.block = nn.Sequential(
            conv3x3(in_channels, out_channels),
            nn.LeakyReLU(slope, inplace=True),
            conv3x3(out_channels, out_channels),
            nn.LeakyReLU(slope, inplace=True),
        )
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=True)

    def forward(self, x):
        # The shortcut first, as the official RB: autograd then sums the gradients reaching x
        # in the same order, so training matches the official code bit for bit.
        shortcut = self.conv(x)
        return self.block(x) + shortcut
