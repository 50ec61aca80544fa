"""Exponential moving average of generator weights."""
import copy

import torch


class ModelEMA:
    """Keeps ema = decay * ema + (1 - decay) * weights after every generator update.

    Buffers are copied as they are (the generators have no running statistics).
    """

    def __init__(self, net, decay):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.net = copy.deepcopy(net).eval()
        for param in self.net.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, net):
        ema_params = [p for p in self.net.parameters() if p.dtype.is_floating_point]
        params = [p.detach() for p in net.parameters() if p.dtype.is_floating_point]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for ema_buffer, buffer in zip(self.net.buffers(), net.buffers()):
            ema_buffer.copy_(buffer)

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state_dict):
        self.net.load_state_dict(state_dict)
