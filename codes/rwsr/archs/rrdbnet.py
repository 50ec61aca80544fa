"""ESRGAN's RRDBNet and the dual-branch EDL generator built on it."""
from torch import nn
from torch.nn import functional as F

from ..utils.errors import RwsrError
from .blocks import RRDB, ResidualBlock, conv3x3

# ESRGAN upsamples in nearest-neighbour steps, each followed by a conv: x4 = two 2x steps (upconv1,
# upconv2), x2 = one (upconv1), x3 = one 3x step (upconv1), x1 = none. Parameter names stay those of the
# official x4 network, so official weights load; x2 and x3 files have the same tensors (metadata tells).
UPSAMPLING_STEPS = {1: (), 2: (2,), 3: (3,), 4: (2, 2)}
SUPPORTED_SCALES = tuple(UPSAMPLING_STEPS)


def check_scale(scale):
    if scale not in UPSAMPLING_STEPS:
        raise RwsrError(f"network_G.upscale: {scale} is not supported; RRDBNet upsamples by "
                        f"{', '.join(map(str, SUPPORTED_SCALES))}")
    return scale


class RRDBNet(nn.Module):
    """Plain ESRGAN generator (`which_model_G: RRDB`): forward returns the SR image y.

    global_residual: y = network output + bicubic upsampling of x (no extra parameters), so
    the network learns only the residual; off by default, as in ESRGAN.
    """

    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, upscale=4, global_residual=False):
        super().__init__()
        self.upscale = check_scale(upscale)
        if global_residual and in_nc != out_nc:
            raise RwsrError(f"network_G.global_residual needs in_nc == out_nc, got {in_nc} and {out_nc}")
        self.global_residual = global_residual
        self.conv_first = conv3x3(in_nc, nf)
        self.RRDB_trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = conv3x3(nf, nf)
        self.upsampling_steps = UPSAMPLING_STEPS[upscale]
        for index in range(len(self.upsampling_steps)):
            setattr(self, f"upconv{index + 1}", conv3x3(nf, nf))
        self.HRconv = conv3x3(nf, nf)
        self.conv_last = conv3x3(nf, out_nc)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def upconvs(self):
        """(factor, conv) of each upsampling step."""
        return [(factor, getattr(self, f"upconv{index + 1}")) for index, factor in enumerate(self.upsampling_steps)]

    def reconstruct(self, x):
        """LR input -> SR image through trunk, upsampling and the last two convolutions."""
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        return self.upsample(fea)

    def upsample(self, fea):
        """Trunk features (LR) -> SR image: the upsampling steps and the last two convolutions."""
        for factor, conv in self.upconvs():
            fea = self.lrelu(conv(F.interpolate(fea, scale_factor=factor, mode="nearest")))
        return self.conv_last(self.lrelu(self.HRconv(fea)))

    def bicubic(self, x):
        return F.interpolate(x, scale_factor=self.upscale, mode="bicubic", align_corners=False)

    def forward(self, x):
        y = self.reconstruct(x)
        return y + self.bicubic(x) if self.global_residual else y


class EDLRRDBNet(RRDBNet):
    """RWSR-EDL generator (`which_model_G: RRDBNet`): forward returns (y, y_p, y_1).

    The trunk's output `mid` feeds a softmax mask M (over nf channels) and two branches:
    y_p = tail_conv1(M * branch1(mid)) for the perceptual/adversarial losses and
    y_1 = tail_conv2((1 - M) * branch2(mid)) for the L1 loss; y = y_p + y_1.
    global_residual adds the bicubic upsampling of x to y_1 (mid stays the trunk's residual, so a
    plain RRDB trained with global_residual loads as the trunk).
    """

    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, upscale=4, global_residual=False):
        super().__init__(in_nc, out_nc, nf, nb, gc, upscale, global_residual)
        self.branch1 = self._head_stack(out_nc, nf)
        self.branch2 = self._head_stack(out_nc, nf)
        self.sm = nn.Sequential(*self._head_stack(out_nc, nf), nn.Softmax(dim=1))
        self.tail_conv1 = conv3x3(nf, out_nc)
        self.tail_conv2 = conv3x3(nf, out_nc)

    @staticmethod
    def _head_stack(in_channels, nf):
        return nn.Sequential(ResidualBlock(in_channels, nf), ResidualBlock(nf, nf), ResidualBlock(nf, nf))

    def forward(self, x):
        y_p, y_1 = self.branches(x, self.reconstruct(x))
        return y_p + y_1, y_p, y_1

    def branches(self, x, mid):
        mask = self.sm(mid)
        y_p = self.tail_conv1(mask * self.branch1(mid))
        y_1 = self.tail_conv2((1 - mask) * self.branch2(mid))
        if self.global_residual:
            y_1 = y_1 + self.bicubic(x)
        return y_p, y_1

    # Inference in two precisions (rwsr.inference.staged): y = head_stage(x, trunk_stage(stem(x))).
    # trunk_stage is the part whose bf16 rounding stays within one 8-bit level of the output
    # (measured in docs/inference.md#precision-on-the-cpu): the reconstruction from conv_first's
    # features to mid. The full-resolution branches and their mask do not (2 levels on trained
    # weights), nor does the plain RRDBNet's trunk, whose output reaches the image without them
    # (3 levels on the check photo): the plain generator has no stages and runs in fp32.
    def stem(self, x):
        return self.conv_first(x)

    def trunk_stage(self, fea):
        return self.upsample(fea + self.trunk_conv(self.RRDB_trunk(fea)))

    def head_stage(self, x, mid):
        y_p, y_1 = self.branches(x, mid)
        return y_p + y_1
