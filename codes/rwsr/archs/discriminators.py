"""Discriminators of the official configs: PatchGAN (NLayerDiscriminator) and VGG-style 128x128.

Parameter names match the official code (`model.N`, `convK_J`, `bnK_J`, `linear1/2`) so that
official discriminator checkpoints load.
"""
from torch import nn

from ..utils.errors import RwsrError


class NLayerDiscriminator(nn.Module):
    """PatchGAN with BatchNorm: one real/fake logit per overlapping patch of the input."""

    def __init__(self, in_nc=3, nf=64, nlayer=3):
        super().__init__()
        if nlayer < 1:
            raise RwsrError(f"network_D.nlayer: {nlayer} must be at least 1")
        layers = [nn.Conv2d(in_nc, nf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels = nf
        for index in range(1, nlayer + 1):
            # Strided layers halve the resolution; the last one keeps it (stride 1).
            out_channels = nf * min(2 ** index, 8)
            stride = 2 if index < nlayer else 1
            layers += [nn.Conv2d(channels, out_channels, 4, stride, 1, bias=False),
                       nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.2, True)]
            channels = out_channels
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DiscriminatorVGG128(nn.Module):
    """ESRGAN's VGG-style discriminator: five stride-2 stages to 4x4, then two linear layers.

    The linear layer fixes the input size to 128x128.
    """

    input_size = 128

    def __init__(self, in_nc=3, nf=64):
        super().__init__()
        self.conv0_0 = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(nf, nf, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(nf)
        widths = [nf, nf * 2, nf * 4, nf * 8, nf * 8]
        for stage in range(1, 5):
            in_ch, out_ch = widths[stage - 1], widths[stage]
            setattr(self, f"conv{stage}_0", nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False))
            setattr(self, f"bn{stage}_0", nn.BatchNorm2d(out_ch))
            setattr(self, f"conv{stage}_1", nn.Conv2d(out_ch, out_ch, 4, 2, 1, bias=False))
            setattr(self, f"bn{stage}_1", nn.BatchNorm2d(out_ch))
        self.linear1 = nn.Linear(nf * 8 * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        if tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            raise RwsrError(f"discriminator_vgg_128 needs {self.input_size}x{self.input_size} inputs, got "
                            f"{x.shape[-2]}x{x.shape[-1]}; set GT_size: 128 or use NLayerDiscriminator")
        fea = self.lrelu(self.conv0_0(x))
        fea = self.lrelu(self.bn0_1(self.conv0_1(fea)))
        for stage in range(1, 5):
            for j in (0, 1):
                conv, bn = getattr(self, f"conv{stage}_{j}"), getattr(self, f"bn{stage}_{j}")
                fea = self.lrelu(bn(conv(fea)))
        return self.linear2(self.lrelu(self.linear1(fea.flatten(1))))
