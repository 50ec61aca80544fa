"""`model: sr`: PSNR-oriented pre-training with a pixel loss on the generator output y."""
from ..losses import PixelLoss
from ..archs import generator_outputs
from .base import BaseModel


class SRModel(BaseModel):
    def __init__(self, opt, runtime, logger):
        super().__init__(opt, runtime, logger)
        self.pixel_loss = PixelLoss(self.train_opt["pixel_criterion"]).to(self.device)
        self.pixel_weight = self.train_opt["pixel_weight"]
        if not self.pixel_weight or self.pixel_weight <= 0:
            self.logger.warning("train.pixel_weight is %s; model sr trains with weight 1", self.pixel_weight)
            self.pixel_weight = 1.0

    def generator_betas(self):
        """The official SR model reads train.beta1 / beta2; beta1_G / beta2_G stand in when they are null."""
        t = self.train_opt
        return (t["beta1"] if t["beta1"] is not None else t["beta1_G"],
                t["beta2"] if t["beta2"] is not None else t["beta2_G"])

    def optimize(self, iteration, lq, gt):
        optimizer = self.optimizers["G"]
        optimizer.zero_grad()
        with self.precision.autocast():
            y = generator_outputs(self.net_g_train(self.to_device_layout(lq)))[0]
        l_pix = self.pixel_weight * self.pixel_loss(y.float(), gt)
        optimizer.scale_loss(l_pix).backward()
        optimizer.step()
        self._after_generator_step()
        return {"l_pix": l_pix.detach()}
