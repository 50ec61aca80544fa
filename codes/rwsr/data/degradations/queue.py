"""Real-ESRGAN's training-pair pool: one batch's degradations (one resize, one noise type)
are spread over many later batches.

The first size / B batches fill the pool and pass through; afterwards each batch is put
into the pool after it was shuffled, and the B pairs it replaces are returned instead.
The pool's contents are part of the training state (8-bit exact values are stored as uint8).
"""
import torch


def _compact(values):
    """uint8 when it restores exactly (8-bit images, quantised LR), else the tensor itself."""
    as_bytes = (values * 255).round().clamp(0, 255).to(torch.uint8)
    if torch.equal(as_bytes.to(values.dtype) / 255, values):
        return {"uint8": as_bytes.cpu()}
    return {"float": values.cpu()}


def _expand(stored, device, dtype):
    if "uint8" in stored:
        return stored["uint8"].to(device=device, dtype=dtype) / 255
    return stored["float"].to(device=device, dtype=dtype)


class PairQueue:
    def __init__(self, size, generator):
        self.size = size
        self.generator = generator  # the degradation's CPU generator: the shuffles are resumed with it
        self.lq = self.gt = None
        self.filled = 0

    def mix(self, lq, gt):
        batch = lq.shape[0]
        if self.size == 0:
            return lq, gt
        if self.size % batch:
            raise ValueError(f"queue size {self.size} is not a multiple of the batch {batch}")
        if self.lq is None:
            self.lq = lq.new_zeros((self.size,) + lq.shape[1:])
            self.gt = gt.new_zeros((self.size,) + gt.shape[1:])
        if self.filled < self.size:
            self.lq[self.filled:self.filled + batch] = lq
            self.gt[self.filled:self.filled + batch] = gt
            self.filled += batch
            return lq, gt
        order = torch.randperm(self.size, generator=self.generator).to(self.lq.device)
        self.lq, self.gt = self.lq[order], self.gt[order]
        out_lq, out_gt = self.lq[:batch].clone(), self.gt[:batch].clone()
        self.lq[:batch], self.gt[:batch] = lq, gt
        return out_lq, out_gt

    def state_dict(self):
        if self.lq is None:
            return {"filled": 0}
        return {"filled": self.filled, "lq": _compact(self.lq), "gt": _compact(self.gt)}

    def load_state_dict(self, state, device, dtype=torch.float32):
        self.filled = int(state.get("filled", 0))
        if "lq" in state:
            self.lq = _expand(state["lq"], device, dtype)
            self.gt = _expand(state["gt"], device, dtype)
        else:
            self.lq = self.gt = None
