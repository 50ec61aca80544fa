"""Losses against values computed by hand on tiny tensors."""
import logging
import math
import os

import lpips
import pytest
import torch

from arch_helpers import captured_project_log, write_fake_vgg19
from rwsr.archs.network_files import safe_torch_load
from rwsr.losses import (ExclusionLoss, FeatureLoss, GANLoss, LPIPSLoss, PixelLoss, gradient_penalty)
from rwsr.utils.errors import RwsrError


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def test_pixel_losses_by_hand():
    x, y = t([[0.0, 1.0], [2.0, -1.0]]), t([[0.0, 0.0], [0.0, 2.0]])
    # differences 0, 1, 2, -3
    assert PixelLoss("l1")(x, y).item() == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert PixelLoss("l2")(x, y).item() == pytest.approx((0 + 1 + 4 + 9) / 4)
    expected = sum(math.sqrt(d * d + 1e-6) for d in (0, 1, 2, 3)) / 4
    assert PixelLoss("charbonnier")(x, y).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(RwsrError, match="valid: l1, l2, charbonnier"):
        PixelLoss("l3")


def test_gan_losses_by_hand():
    pred = t([0.0, 2.0])
    bce_real = (math.log(2) + math.log(1 + math.exp(-2))) / 2
    bce_fake = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert GANLoss("gan")(pred, True).item() == pytest.approx(bce_real)
    assert GANLoss("gan")(pred, False).item() == pytest.approx(bce_fake)
    assert GANLoss("lsgan")(pred, True).item() == pytest.approx((1 + 1) / 2)
    assert GANLoss("lsgan")(pred, False).item() == pytest.approx((0 + 4) / 2)
    assert GANLoss("wgan-gp")(pred, True).item() == pytest.approx(-1.0)
    assert GANLoss("wgan-gp")(pred, False).item() == pytest.approx(1.0)
    with pytest.raises(RwsrError, match="valid: gan, ragan, lsgan, wgan-gp"):
        GANLoss("hinge")


def test_non_relativistic_generators_want_their_images_called_real():
    pred = t([0.0, 2.0])
    bce_real = (math.log(2) + math.log(1 + math.exp(-2))) / 2
    assert GANLoss("gan").generator_loss(pred).item() == pytest.approx(bce_real)
    assert GANLoss("lsgan").generator_loss(pred, t([5.0, 5.0])).item() == pytest.approx(1.0)
    assert GANLoss("wgan-gp").generator_loss(pred).item() == pytest.approx(-1.0)


def softplus(v):
    return math.log(1 + math.exp(v))


def test_relativistic_losses_by_hand():
    real, fake = t([1.0, 3.0]), t([0.0, -2.0])  # means: real 2, fake -1
    loss = GANLoss("ragan")
    # BCE(z, 1) = softplus(-z), BCE(z, 0) = softplus(z)
    real_vs_fake = [1 - (-1), 3 - (-1)]        # real - mean(fake) = 2, 4
    fake_vs_real = [0 - 2, -2 - 2]             # fake - mean(real) = -2, -4
    expected_g = (sum(softplus(z) for z in real_vs_fake) / 2 + sum(softplus(-z) for z in fake_vs_real) / 2) / 2
    assert loss.generator_loss(fake, real).item() == pytest.approx(expected_g)
    d_real = sum(softplus(-z) for z in real_vs_fake) / 2
    d_fake = sum(softplus(z) for z in fake_vs_real) / 2
    total, part_real, part_fake = loss.discriminator_loss(real, fake)
    assert (part_real.item(), part_fake.item()) == (pytest.approx(d_real), pytest.approx(d_fake))
    assert total.item() == pytest.approx((d_real + d_fake) / 2)
    plain_total, _, _ = GANLoss("gan").discriminator_loss(real, fake)
    assert plain_total.item() == pytest.approx(
        sum(softplus(-z) for z in (1, 3)) / 2 + sum(softplus(z) for z in (0, -2)) / 2)


class LinearCritic(torch.nn.Module):
    """D(x) = sum(w * x): its input gradient is w everywhere, so the penalty is (||w|| - 1)^2."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight)

    def forward(self, x):
        return (x * self.weight).flatten(1).sum(1)


def test_gradient_penalty_by_hand():
    weight = t([[[[3.0, 0.0], [0.0, 4.0]]]])  # ||w|| = 5
    critic = LinearCritic(weight)
    real, fake = torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()  # differentiable w.r.t. the critic (create_graph)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(critic.weight.grad, 2 * 4 * weight / 5)


def test_exclusion_loss_single_scale_by_hand():
    a, b = 1.0, 0.5
    y_p = t([[[[0, a], [0, a]]]])   # x-gradients a, a; no y-gradient
    y_1 = t([[[[0, b], [b, b]]]])   # x-gradients b, 0; y-gradients b, 0
    lam_p = math.sqrt(b / (a * math.sqrt(2)))  # sqrt(||g_x(y_1)|| / ||g_x(y_p)||)
    expected = math.tanh(lam_p * a) * math.tanh(b) / 2  # the y term is 0: y_p has no y-gradient
    assert ExclusionLoss(scales=1)(y_p, y_1).item() == pytest.approx(expected, rel=1e-5)


def test_exclusion_loss_two_scales_by_hand():
    b = 0.5
    block = torch.ones(2, 2)
    y_p = torch.kron(t([[0, 1], [0, 1]]), block).view(1, 1, 4, 4)
    y_1 = torch.kron(t([[0, b], [b, b]]), block).view(1, 1, 4, 4)
    # Scale 0 (4x4): x-gradients of y_p are 1 in column 1 of all 4 rows (||.|| = 2), of y_1 b in
    # column 1 of rows 0-1 (||.|| = b*sqrt(2)); 2 of the 12 products are non-zero.
    lam0 = math.sqrt(b * math.sqrt(2) / 2)
    scale0 = 2 * math.tanh(lam0) * math.tanh(b) / 12
    # Scale 1: 2x2 average pooling gives back the single-scale example.
    scale1 = math.tanh(math.sqrt(b / math.sqrt(2))) * math.tanh(b) / 2
    assert ExclusionLoss(scales=2)(y_p, y_1).item() == pytest.approx(scale0 + scale1, rel=1e-5)


def test_exclusion_loss_of_a_one_pixel_high_image_is_its_x_term():
    a, b = 1.0, 0.5
    y_p, y_1 = t([[[[0, a, a]]]]), t([[[[0, b, 0]]]])  # x-gradients (a, 0) and (b, -b); no y-gradient
    lam_p = math.sqrt(b * math.sqrt(2) / a)
    expected = math.tanh(lam_p * a) * math.tanh(b) / 2
    assert ExclusionLoss(scales=3)(y_p, y_1).item() == pytest.approx(expected, rel=1e-5)
    assert ExclusionLoss(scales=1)(y_p.transpose(-1, -2), y_1.transpose(-1, -2)).item() == pytest.approx(
        expected, rel=1e-5)


def test_exclusion_loss_is_zero_for_disjoint_edges_and_differentiable():
    vertical_edge = t([[[[0, 0, 1, 1]] * 4]])              # only x-gradients
    horizontal_edge = vertical_edge.transpose(-1, -2)       # only y-gradients
    assert ExclusionLoss(3)(vertical_edge, horizontal_edge).item() == 0.0
    torch.manual_seed(0)
    y_p, y_1 = torch.rand(2, 3, 16, 16, requires_grad=True), torch.rand(2, 3, 16, 16, requires_grad=True)
    loss = ExclusionLoss(3)(y_p, y_1)
    assert loss.item() > ExclusionLoss(3)(vertical_edge, horizontal_edge).item()
    loss.backward()
    assert torch.isfinite(y_p.grad).all() and y_p.grad.abs().sum() > 0 and y_1.grad.abs().sum() > 0
    with pytest.raises(RwsrError, match="exclusion_scales"):
        ExclusionLoss(0)


def test_feature_loss_uses_the_chosen_layer_and_no_target_gradient(tmp_path):
    write_fake_vgg19(tmp_path / "vgg19-dcbb9e9d.pth")
    loss_fn = FeatureLoss("l2", layer="conv2_1", weights_dir=str(tmp_path), download=False)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    target = torch.rand(1, 3, 8, 8, requires_grad=True)
    loss = loss_fn(x, target)
    with torch.no_grad():
        expected = ((loss_fn.vgg(x) - loss_fn.vgg(target)) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert x.grad.abs().sum() > 0 and target.grad is None
    assert all(p.grad is None for p in loss_fn.parameters())
    with pytest.raises(RwsrError, match="feature_criterion"):
        FeatureLoss("lpips", pretrained=False)


def alexnet_features():
    """AlexNet's `features` as in torchvision (layer indices matter for the state dict keys)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))


def write_fake_alexnet(path):
    torch.manual_seed(5)
    features = alexnet_features().eval()
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return features


def test_lpips_network_loads_trunk_from_the_torchvision_file_and_package_calibration(tmp_path):
    features = write_fake_alexnet(tmp_path / "alexnet-owt-7be5be79.pth")
    loss_fn = LPIPSLoss(weights_dir=str(tmp_path), download=False)
    slices = loss_fn.lpips.model.net
    x = torch.rand(1, 3, 64, 64)
    # lpips taps AlexNet after each ReLU: features[:2], [:5], [:8], [:10], [:12]
    with torch.no_grad():
        h = x
        for lpips_slice, end in zip([slices.slice1, slices.slice2, slices.slice3, slices.slice4, slices.slice5],
                                    [2, 5, 8, 10, 12]):
            h = lpips_slice(h)
            torch.testing.assert_close(h, features[:end](x))
    calibration = safe_torch_load(os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth"))
    for index in range(5):
        torch.testing.assert_close(getattr(loss_fn.lpips.model, f"lin{index}").model[1].weight,
                                   calibration[f"lin{index}.model.1.weight"])

    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    assert loss_fn(target, target).item() == pytest.approx(0.0, abs=1e-7)
    x = (target + 0.2 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    loss = loss_fn(x, target)
    assert loss.item() > 0.0
    loss.backward()
    assert x.grad.abs().sum() > 0 and all(not p.requires_grad for p in loss_fn.parameters())
    loss_fn.train()
    assert not any(m.training for m in loss_fn.lpips.modules())  # dropout stays off


def test_lpips_missing_backbone_and_random_warning(tmp_path):
    with pytest.raises(RwsrError) as err:
        LPIPSLoss(weights_dir=str(tmp_path), download=False)
    assert "alexnet-owt-7be5be79.pth" in str(err.value) and str(tmp_path) in str(err.value)
    with captured_project_log() as log:
        LPIPSLoss(pretrained=False)
    assert "RANDOM AlexNet" in log.text(logging.WARNING)


# ---------------------------------------------------------------- what carries a gradient
def test_exclusion_balance_factor_carries_no_gradient():
    """d/dy_p of mean(tanh(l_p |g_p|) tanh(|g_1|)) with l_p held constant, by hand: two rows with
    one x-gradient each (a in y_p, b in y_1) and no y-gradient."""
    a, b = 0.8, 0.5
    y_p = t([[[[0.0, a], [0.0, a]]]]).requires_grad_(True)
    y_1 = t([[[[0.0, b], [0.0, b]]]]).requires_grad_(True)
    ExclusionLoss(scales=1)(y_p, y_1).backward()
    lam = math.sqrt(b / a)  # sqrt(||g_1|| / ||g_p||) = sqrt(b sqrt2 / (a sqrt2))
    # loss = (1/2) sum over the two rows of tanh(lam (x1 - x0)) tanh(b); a varying lam would add terms
    d_p = lam * (1 - math.tanh(lam * a) ** 2) * math.tanh(b) / 2
    torch.testing.assert_close(y_p.grad, t([[[[-d_p, d_p], [-d_p, d_p]]]]))
    d_1 = math.tanh(lam * a) * (1 - math.tanh(b) ** 2) / 2
    torch.testing.assert_close(y_1.grad, t([[[[-d_1, d_1], [-d_1, d_1]]]]))


def test_relativistic_generator_loss_sends_no_gradient_to_the_real_scores():
    real = t([1.0, 3.0]).requires_grad_(True)
    fake = t([0.0, -2.0]).requires_grad_(True)
    GANLoss("ragan").generator_loss(fake, real).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_gradient_penalty_is_taken_at_random_points_between_detached_real_and_fake():
    class SquareCritic(torch.nn.Module):
        """D(x) = sum(x^2) / 2: its input gradient is x, so the penalty reads the sampled point."""

        def forward(self, x):
            return (x * x).flatten(1).sum(1) / 2

    real = torch.rand(4, 1, 2, 2, requires_grad=True)
    fake = torch.rand(4, 1, 2, 2, requires_grad=True)
    penalty = gradient_penalty(SquareCritic(), real, fake, generator=torch.Generator().manual_seed(9))
    alpha = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(9))
    mixed = alpha * real.detach() + (1 - alpha) * fake.detach()
    expected = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, expected)
    penalty.backward()
    assert real.grad is None and fake.grad is None
