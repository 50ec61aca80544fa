"""The EDL GAN model: `model: srgan` (alias `edl`), `srgan_al`, `srgan_an`, `srgan_r`.

Per iteration, as the official SRGANModel: the generator step (when
iteration % D_update_ratio == 0 and iteration > D_init_iters) with the model's objective
(rwsr.models.edl_objectives) plus the optional gradient-exclusion loss on (y_p, y_1) and the
train.losses terms (rwsr.models.extra_losses); then the discriminator step on HR against the same y,
detached.
"""
import torch

from ..archs import build_discriminator, generator_outputs
from ..losses import LOSSES, gradient_penalty
from ..options.schema import LOSS_VARIANTS
from ..utils.errors import OptionError
from .base import BaseModel
from .edl_objectives import objective_for
from .extra_losses import extra_terms, plugin_search_dirs

ADVERSARIAL_TERMS = {"y": "gan", "y_p": "gan1", "y_1": "gan2"}
PIXEL_TERMS = {"y": "pix", "y_p": "pix1", "y_1": "pix2"}


class EDLModel(BaseModel):
    def __init__(self, opt, runtime, logger):
        super().__init__(opt, runtime, logger)
        t = self.train_opt
        self.gan_type = t["gan_type"]
        self.objective = objective_for(opt["model"], t["align_weight"])
        self.cr_weight, self.align_weight = t["cr_weight"], t["align_weight"]
        self.weights = {"pix": t["pixel_weight"] or 0.0, "fea": t["feature_weight"] or 0.0,
                        "gan": t["gan_weight"] or 0.0, "excl": t["exclusion_weight"] or 0.0}
        self.d_update_ratio = t["D_update_ratio"] or 1
        self.d_init_iters = t["D_init_iters"] or 0
        if opt["model"] == "srgan" and t["cr_weight"] is not None:
            logger.warning("train.cr_weight=%s is accepted but unused by model srgan (the variants srgan_al, "
                           "srgan_an and srgan_r use it)", t["cr_weight"])
        for key in ("beta1", "beta2"):
            if t[key] is not None:
                logger.warning("train.%s is read by model sr only; the GAN model uses %s_G / %s_D", key, key, key)
        if not any(weight > 0 for weight in self.weights.values()) and not self.extra_losses:
            raise OptionError("train: pixel_weight, feature_weight, gan_weight and exclusion_weight are all 0 and "
                              "train.losses is empty; the generator would have no loss")
        self._build_losses(opt)
        self.net_d = None
        if self.weights["gan"] > 0:
            self._build_discriminator(opt)
        else:
            logger.info("train.gan_weight is 0: no discriminator, no adversarial loss")

    def _build_losses(self, opt):
        """The terms of the official flat keys, built through the loss registry under their registered names."""
        t = self.train_opt
        self.pixel_loss = None
        if self.weights["pix"] > 0:
            self.pixel_loss = LOSSES.build("pixel", {"criterion": t["pixel_criterion"]}, "train").to(self.device)
        self.feature_loss = None
        if self.weights["fea"] > 0:
            weights_dir = opt["path"]["pretrained_backbones"]
            if t["feature_criterion"] == "lpips":
                loss = LOSSES.build("lpips", {"pretrained": t["feature_pretrained"], "weights_dir": weights_dir},
                                    "train")
            else:
                loss = LOSSES.build("feature", {"criterion": t["feature_criterion"], "layer": t["feature_layer"],
                                                "pretrained": t["feature_pretrained"], "weights_dir": weights_dir},
                                    "train")
            self.feature_loss = loss.to(self.device, memory_format=self.memory_format)
        self.exclusion_loss = None
        if self.weights["excl"] > 0:
            self.exclusion_loss = LOSSES.build("exclusion", {"scales": t["exclusion_scales"]}, "train")
        self.gan_loss = LOSSES.build("gan", {"gan_type": self.gan_type}, "train").to(self.device)

    def _build_discriminator(self, opt):
        if opt["network_D"]["sync_bn"] and self.runtime.distributed and self.device.type != "cuda":
            raise OptionError("network_D.sync_bn: SyncBatchNorm needs CUDA devices; set it to false for "
                              "training on CPU (each process then uses its own batch statistics)")
        net_d = self._place(build_discriminator(opt["network_D"], opt.get("plugins", ()), plugin_search_dirs(opt)))
        self._load_pretrained(net_d, opt["path"]["pretrain_model_D"])
        # D runs on HR and then on the fake before one backward. Its BatchNorm running statistics are never
        # used (D is always in training mode), so they are not broadcast from rank 0 at each forward: that
        # in-place overwrite between the two calls is what breaks backward on some torch releases.
        self.net_d_train = self.runtime.wrap_ddp(net_d, broadcast_buffers=False)
        self.net_d = net_d
        self.optimizers["D"] = self._make_optimizer(self.net_d, "D")

    def generator_leaves_parameters_unused(self):
        """True when the generator loss reaches neither y nor both branches y_p and y_1: srgan with only a
        pixel weight (y_1) or only a GAN weight (y_p) leaves the other branch without gradient."""
        t = self.train_opt
        if self.opt["network_G"]["which_model_G"] == "RRDB":  # one output: every parameter makes y
            return False
        reached = {entry.get("output") or "y" for entry in t.get("losses") or () if entry.get("weight", 1)}
        if (t["feature_weight"] or 0) > 0 or (t["exclusion_weight"] or 0) > 0:
            reached.add("y")  # the feature loss reads y, the exclusion loss both branches
        if (t["pixel_weight"] or 0) > 0:
            reached.add("y_1")  # every objective reads pix2 (srgan_al: pix of y as well)
        if (t["gan_weight"] or 0) > 0:
            reached.update(objective_for(self.opt["model"], t["align_weight"]).adversarial_inputs)
        return not ("y" in reached or {"y_p", "y_1"} <= reached)

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
                y = generator_outputs(self.net_g(lq))[0]
        if self.net_d is not None:
            self._discriminator_step(gt, y.detach(), logs)
        return logs

    def branch_loss_users(self):
        users = super().branch_loss_users()
        variant = [f"model {self.opt['model']}"] if self.opt["model"] in LOSS_VARIANTS else []  # weigh y_p and y_1
        return variant + (["train.exclusion_weight"] if self.exclusion_loss is not None else []) + users

    def _generator_step(self, lq, gt, logs):
        optimizer = self.optimizers["G"]
        optimizer.zero_grad()
        if self.net_d is not None:
            self.net_d.requires_grad_(False)
        with self.precision.autocast():
            outputs = self.generator_output_dict(self.net_g_train(lq), gt)
        total, terms, _ = self.generator_loss(outputs, gt)
        optimizer.scale_loss(total).backward()
        optimizer.step()
        self._after_generator_step()
        logs.update((name, value.detach()) for name, value in terms.items())
        return outputs["y"]

    def generator_loss(self, outputs, gt):
        """(total, {l_g_<name>: term}, log-only names) of the G step for the generator outputs:
        objective(model) [+ exclusion] + the train.losses terms, in this order."""
        with self.precision.autocast():
            terms = self._weighted_terms(outputs, gt)
            extras = extra_terms(self.extra_losses, outputs, gt)
        total, extra = self.objective.loss(terms, self.cr_weight, self.align_weight)
        if self.exclusion_loss is not None:
            extra["excl"] = self.weights["excl"] * self.exclusion_loss(outputs["y_p"].float(), outputs["y_1"].float())
            total = total + extra["excl"]
        for value in extras.values():
            total = total + value
        logged = {f"l_g_{name}": value for name, value in {**terms, **extra, **extras}.items()}
        logged["l_g_total"] = total
        return total, logged, tuple(f"l_g_{name}" for name in self.objective.log_only if name in terms)

    def _weighted_terms(self, outputs, gt):
        """pix, pix1, pix2, fea and the adversarial terms of the objective, weighted, in fp32."""
        terms = {}
        if self.pixel_loss is not None:
            for output, name in PIXEL_TERMS.items():
                terms[name] = self.weights["pix"] * self.pixel_loss(outputs[output].float(), gt)
        if self.feature_loss is not None:
            terms["fea"] = self.weights["fea"] * self.feature_loss(outputs["y"], gt).float()
        if self.net_d is not None:
            fakes = [outputs[name] for name in self.objective.adversarial_inputs]
            for name, loss in zip(self.objective.adversarial_inputs, self._generator_adversarial(fakes, gt)):
                terms[ADVERSARIAL_TERMS[name]] = self.weights["gan"] * loss.float()
        return terms

    def _generator_adversarial(self, fakes, gt):
        """G's adversarial loss of each fake: D sees the fakes in order, then HR (ragan)."""
        # The plain module: D's weights are frozen here and need no gradient averaging.
        preds_fake = [self.net_d(fake) for fake in fakes]
        pred_real = None
        if self.gan_type == "ragan":
            with torch.no_grad():
                pred_real = self.net_d(gt)
        return [self.gan_loss.generator_loss(pred_fake, pred_real) for pred_fake in preds_fake]

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
        optimizer.scale_loss(total.float()).backward()
        optimizer.step()
        logs.update(l_d_real=l_real.detach(), l_d_fake=l_fake.detach(),
                    D_real=pred_real.detach().float().mean(), D_fake=pred_fake.detach().float().mean())
