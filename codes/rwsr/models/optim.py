"""Adam with mixed precision, gradient clipping and per-iteration learning rates."""
import torch
from torch.nn.utils import clip_grad_norm_

from ..utils.errors import RwsrError
from ..utils.torch_compat import grad_scaler


class Precision:
    """fp32, or autocast to fp16 (with gradient scaling) or bf16 on CUDA; bf16 also on the CPU."""

    DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}

    def __init__(self, amp, device, logger=None):
        self.device_type = device.type
        if amp == "fp16" and device.type != "cuda":
            if logger is not None:
                logger.warning("train.amp=%s applies on CUDA only; training in fp32 on %s", amp, device.type)
            amp = None
        if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise RwsrError("train.amp: this GPU does not support bf16; use fp16 or null")
        self.amp = amp
        self.dtype = self.DTYPES.get(amp)

    def autocast(self):
        return torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def grad_scaler(self):
        return grad_scaler(self.device_type, enabled=self.dtype == torch.float16)


def make_adam(params, lr, betas, weight_decay, device):
    """Adam with the fused kernel on CUDA and the multi-tensor path elsewhere."""
    fast_path = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay or 0.0, **fast_path)


class NetOptimizer:
    """One network's Adam optimiser, gradient scaler and clipping."""

    def __init__(self, net, base_lr, betas, weight_decay, device, precision, grad_clip=0.0):
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.base_lr = base_lr
        self.optimizer = make_adam(self.params, base_lr, betas, weight_decay, device)
        self.scaler = precision.grad_scaler()
        self.grad_clip = grad_clip or 0.0

    def zero_grad(self):
        self.optimizer.zero_grad(set_to_none=True)

    def scale_loss(self, loss):
        """The loss to call backward() on: scaled for fp16 autocast, as it is otherwise."""
        return self.scaler.scale(loss)

    def step(self):
        """Optional gradient clipping, then the optimiser step (skipped by the scaler on inf/NaN in fp16)."""
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            clip_grad_norm_(self.params, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def clear_state(self):
        """Forget the Adam moments and step counts, as a restart with clear_state does."""
        self.optimizer.state.clear()

    def set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
