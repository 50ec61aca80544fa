"""Adversarial losses: gan (BCE), ragan (relativistic average), lsgan, wgan-gp."""
import torch
from torch import nn
from torch.nn import functional as F

from ..options.schema import TRAIN
from ..utils.errors import RwsrError

GAN_TYPES = TRAIN["gan_type"].choices


class GANLoss(nn.Module):
    """loss(pred, target_is_real) for raw discriminator outputs (logits).

    gan/ragan: binary cross-entropy with logits against 1/0 labels; lsgan: mean squared error
    against the labels; wgan-gp: -mean(pred) for real, mean(pred) for fake.
    `generator_loss` / `discriminator_loss` add the relativistic pairing the official code uses
    for ragan.
    """

    def __init__(self, gan_type="ragan", real_label=1.0, fake_label=0.0):
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise RwsrError(f"gan_type: unknown {gan_type!r}; valid: {', '.join(GAN_TYPES)}")
        self.gan_type = gan_type
        self.real_label = real_label
        self.fake_label = fake_label

    def forward(self, pred, target_is_real):
        if self.gan_type == "wgan-gp":
            return -pred.mean() if target_is_real else pred.mean()
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.gan_type == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def generator_loss(self, pred_fake, pred_real=None):
        """Loss of G given D(fake) (and D(real), detached, for ragan)."""
        if self.gan_type != "ragan":
            return self(pred_fake, True)
        pred_real = pred_real.detach()
        return (self(pred_real - pred_fake.mean(), False) + self(pred_fake - pred_real.mean(), True)) / 2

    def discriminator_loss(self, pred_real, pred_fake):
        """Loss of D given D(real) and D(fake.detach()); returns (total, real part, fake part)."""
        if self.gan_type == "ragan":
            real = self(pred_real - pred_fake.mean(), True)
            fake = self(pred_fake - pred_real.mean(), False)
            return (real + fake) / 2, real, fake
        real, fake = self(pred_real, True), self(pred_fake, False)
        return real + fake, real, fake


def gradient_penalty(discriminator, real, fake, generator=None):
    """WGAN-GP: mean over the batch of (||grad_x D(x)||_2 - 1)^2 at random points between real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = discriminator(mixed)
    grads, = torch.autograd.grad(scores, mixed, grad_outputs=torch.ones_like(scores), create_graph=True)
    return ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
