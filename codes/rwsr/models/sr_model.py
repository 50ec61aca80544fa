"""`model: sr`: PSNR-oriented pre-training with a pixel loss on the generator output y (+ train.losses)."""
from ..losses import LOSSES
from .base import BaseModel
from .extra_losses import extra_terms


class SRModel(BaseModel):
    def __init__(self, opt, runtime, logger):
        super().__init__(opt, runtime, logger)
        criterion = self.train_opt["pixel_criterion"]
        self.pixel_loss = LOSSES.build("pixel", {"criterion": criterion}, "train").to(self.device)
        self.pixel_weight = self.train_opt["pixel_weight"]
        if not self.pixel_weight or self.pixel_weight <= 0:
            self.logger.warning("train.pixel_weight is %s; model sr trains with weight 1", self.pixel_weight)
            self.pixel_weight = 1.0

    def generator_betas(self):
        """The official SR model reads train.beta1 / beta2; beta1_G / beta2_G stand in when they are null."""
        t = self.train_opt
        return (t["beta1"] if t["beta1"] is not None else t["beta1_G"],
                t["beta2"] if t["beta2"] is not None else t["beta2_G"])

    def generator_loss(self, outputs, gt):
        """(total, {log name: term}, log-only names): the weighted pixel loss of y plus train.losses."""
        with self.precision.autocast():
            extras = extra_terms(self.extra_losses, outputs, gt)
        l_pix = self.pixel_weight * self.pixel_loss(outputs["y"].float(), gt)
        total = l_pix
        for value in extras.values():
            total = total + value
        terms = {"l_pix": l_pix, **{f"l_g_{name}": value for name, value in extras.items()}}
        if extras:
            terms["l_g_total"] = total
        return total, terms, ()

    def optimize(self, iteration, lq, gt):
        optimizer = self.optimizers["G"]
        optimizer.zero_grad()
        with self.precision.autocast():
            outputs = self.generator_output_dict(self.net_g_train(self.to_device_layout(lq)), gt)
        total, terms, _ = self.generator_loss(outputs, gt)
        optimizer.scale_loss(total).backward()
        optimizer.step()
        self._after_generator_step()
        return {name: value.detach() for name, value in terms.items()}
