"""`model: srgan` (alias `edl`): the EDL losses and update order of DESIGN.md.

Per iteration, as the official SRGANModel: the generator step (when
iteration % D_update_ratio == 0 and iteration > D_init_iters) with
pixel loss on y_1, feature loss on y, adversarial loss on y_p (and the optional
exclusionary loss on (y_p, y_1)); then the discriminator step on HR against the
same y, detached.
"""
import torch

from ..archs import build_discriminator
from ..losses import ExclusionLoss, FeatureLoss, GANLoss, LPIPSLoss, PixelLoss, gradient_penalty
from ..utils.errors import OptionError
from .base import BaseModel, split_generator_output
from .runtime import wrap_ddp


class EDLModel(BaseModel):
    def __init__(self, opt, runtime, logger):
        super().__init__(opt, runtime, logger)
        t = self.train_opt
        self.gan_type = t["gan_type"]
        self.weights = {"pix": t["pixel_weight"] or 0.0, "fea": t["feature_weight"] or 0.0,
                        "gan": t["gan_weight"] or 0.0, "excl": t["exclusion_weight"] or 0.0}
        self.d_update_ratio = t["D_update_ratio"] or 1
        self.d_init_iters = t["D_init_iters"] or 0
        if t["cr_weight"] is not None:
            logger.warning("train.cr_weight=%s is accepted but unused, as in the official code", t["cr_weight"])
        if not any(weight > 0 for weight in self.weights.values()):
            raise OptionError("train: pixel_weight, feature_weight, gan_weight and exclusion_weight are all 0; "
                              "the generator would have no loss")
        self._build_losses(opt)
        self.net_d = None
        if self.weights["gan"] > 0:
            self._build_discriminator(opt)
        else:
            logger.info("train.gan_weight is 0: no discriminator, no adversarial loss")

    def _build_losses(self, opt):
        t = self.train_opt
        self.pixel_loss = PixelLoss(t["pixel_criterion"]).to(self.device) if self.weights["pix"] > 0 else None
        self.feature_loss = None
        if self.weights["fea"] > 0:
            weights_dir = opt["path"]["pretrained_backbones"]
            if t["feature_criterion"] == "lpips":
                loss = LPIPSLoss(pretrained=t["feature_pretrained"], weights_dir=weights_dir)
            else:
                loss = FeatureLoss(t["feature_criterion"], layer=t["feature_layer"],
                                   pretrained=t["feature_pretrained"], weights_dir=weights_dir)
            self.feature_loss = loss.to(self.device, memory_format=self.memory_format)
        self.exclusion_loss = ExclusionLoss(t["exclusion_scales"]) if self.weights["excl"] > 0 else None
        self.gan_loss = GANLoss(self.gan_type).to(self.device)

    def _build_discriminator(self, opt):
        if opt["network_D"]["sync_bn"] and self.runtime.distributed and self.device.type != "cuda":
            raise OptionError("network_D.sync_bn: SyncBatchNorm needs CUDA devices; set it to false for "
                              "training on CPU (each process then uses its own batch statistics)")
        net_d = self._place(build_discriminator(opt["network_D"]))
        self._load_pretrained(net_d, opt["path"]["pretrain_model_D"])
        self.net_d_train = wrap_ddp(net_d, self.runtime)
        self.net_d = net_d
        self.optimizers["D"] = self._make_optimizer(self.net_d, "D")

    def networks(self):
        nets = super().networks()
        if self.net_d is not None:
            nets["D"] = self.net_d
        return nets

    def _updates_generator(self, iteration):
        return iteration % self.d_update_ratio == 0 and iteration > self.d_init_iters

    def optimize(self, iteration, lq, gt):
        lq = self.to_device_layout(lq)
        gt = self.to_device_layout(gt)
        logs = {}
        if self._updates_generator(iteration):
            y = self._generator_step(lq, gt, logs)
        else:
            with torch.no_grad(), self.precision.autocast():
                y = split_generator_output(self.net_g(lq))[0]
        if self.net_d is not None:
            self._discriminator_step(gt, y.detach(), logs)
        return logs

    def _generator_step(self, lq, gt, logs):
        optimizer = self.optimizers["G"]
        optimizer.zero_grad()
        if self.net_d is not None:
            self.net_d.requires_grad_(False)
        with self.precision.autocast():
            y, y_p, y_1 = split_generator_output(self.net_g_train(lq))
            terms = []
            if self.pixel_loss is not None:
                terms.append(("l_g_pix", self.weights["pix"] * self.pixel_loss(y_1.float(), gt)))
            if self.feature_loss is not None:
                terms.append(("l_g_fea", self.weights["fea"] * self.feature_loss(y, gt)))
            if self.net_d is not None:
                terms.append(("l_g_gan", self.weights["gan"] * self._generator_adversarial(y_p, gt)))
        if self.exclusion_loss is not None:
            terms.append(("l_g_excl", self.weights["excl"] * self.exclusion_loss(y_p.float(), y_1.float())))
        total = sum(value.float() for _, value in terms)
        optimizer.step(total)
        self._after_generator_step()
        logs.update((name, value.detach()) for name, value in terms)
        return y

    def _generator_adversarial(self, y_p, gt):
        # The plain module: D's weights are frozen here and need no gradient averaging.
        pred_fake = self.net_d(y_p)
        pred_real = None
        if self.gan_type == "ragan":
            with torch.no_grad():
                pred_real = self.net_d(gt)
        return self.gan_loss.generator_loss(pred_fake, pred_real)

    def _discriminator_step(self, gt, fake, logs):
        optimizer = self.optimizers["D"]
        self.net_d.requires_grad_(True)
        optimizer.zero_grad()
        with self.precision.autocast():
            pred_real = self.net_d_train(gt)
            pred_fake = self.net_d_train(fake)
            total, l_real, l_fake = self.gan_loss.discriminator_loss(pred_real, pred_fake)
        if self.gan_type == "wgan-gp":
            penalty = self.train_opt["gp_weight"] * gradient_penalty(self.net_d, gt, fake)
            logs["l_d_gp"] = penalty.detach()
            total = total + penalty
        optimizer.step(total.float())
        logs.update(l_d_real=l_real.detach(), l_d_fake=l_fake.detach(),
                    D_real=pred_real.detach().float().mean(), D_fake=pred_fake.detach().float().mean())
