"""Learning-rate schedules as closed-form functions of the iteration.

The official code steps stateful schedulers once per iteration; computing the rate
from the iteration alone gives the same rates and makes resuming exact by
construction (the iteration is the whole scheduler state).

Conventions of the official MultiStepLR_Restart / CosineAnnealingLR_Restart, which are
stepped once before the update of each iteration (iterations count from 1):
- a milestone m applies from the update of iteration m on;
- a restart r applies from the update of iteration r itself: the rate becomes base * weight
  there (a milestone at r is overridden) and the cosine cycle starts at r;
- with clear_state (MultiStepLR schemes), a restart also empties the optimiser state;
- during warm-up (iteration < warmup_iter) the rate is base * iteration / warmup_iter.
"""
import bisect
import math

from ..options.schema import TRAIN
from ..utils.errors import OptionError

SCHEMES = TRAIN["lr_scheme"].choices


class LRSchedule:
    """Multiplier of the base learning rate at a given iteration."""

    # Every argument is required: the defaults live in the option schema only.
    def __init__(self, scheme, *, milestones, gamma, restarts, restart_weights, periods, eta_min, warmup_iter,
                 clear_state):
        if scheme not in SCHEMES:
            raise OptionError(f"train.lr_scheme: {scheme!r} is not one of {', '.join(SCHEMES)}")
        self.scheme = scheme
        self.milestones = sorted(int(m) for m in milestones or ())
        self.gamma = float(gamma)
        self.restart_starts = [int(r) for r in restarts or ()]
        weights = list(restart_weights or [])
        if len(weights) < len(self.restart_starts):
            raise OptionError(f"train.restart_weights: {len(weights)} weights for "
                              f"{len(self.restart_starts)} restarts; give one weight per restart")
        self.restart_weights = [float(w) for w in weights[: len(self.restart_starts)]]
        if self.restart_starts != sorted(self.restart_starts):
            raise OptionError("train.restarts: iterations must be increasing")
        self.periods = [int(p) for p in periods or ()]
        if scheme == "CosineAnnealingLR_Restart":
            if len(self.periods) < len(self.restart_starts) + 1 or min(self.periods, default=0) <= 0:
                raise OptionError(f"train.T_period: need {len(self.restart_starts) + 1} positive periods "
                                  "(one per cycle: the first plus one per restart)")
        self.eta_min = float(eta_min or 0.0)
        self.warmup_iter = int(warmup_iter if warmup_iter is not None else -1)
        self.clear_state = bool(clear_state) and scheme != "CosineAnnealingLR_Restart"

    def clears_state_at(self, iteration):
        """Whether the optimiser state is emptied before the update of `iteration`."""
        return self.clear_state and iteration in self.restart_starts

    def _cycle(self, iteration):
        """(index of the current restart cycle, its first iteration, its weight)."""
        k = bisect.bisect_right(self.restart_starts, iteration)
        if k == 0:
            return 0, 0, 1.0
        return k, self.restart_starts[k - 1], self.restart_weights[k - 1]

    def lr(self, base_lr, iteration):
        """Learning rate for the update made at `iteration` (1-based)."""
        if iteration < self.warmup_iter:
            return base_lr * iteration / self.warmup_iter
        cycle, start, weight = self._cycle(iteration)
        if self.scheme == "CosineAnnealingLR_Restart":
            period = self.periods[cycle]
            peak = base_lr * weight
            return self.eta_min + (peak - self.eta_min) * (1 + math.cos(math.pi * (iteration - start) / period)) / 2
        decays = bisect.bisect_right(self.milestones, iteration) - bisect.bisect_right(self.milestones, start)
        return base_lr * weight * self.gamma ** decays


def schedule_from_options(train_opt):
    return LRSchedule(train_opt["lr_scheme"], milestones=train_opt["lr_steps"], gamma=train_opt["lr_gamma"],
                      restarts=train_opt["restarts"], restart_weights=train_opt["restart_weights"],
                      periods=train_opt["T_period"], eta_min=train_opt["eta_min"],
                      warmup_iter=train_opt["warmup_iter"], clear_state=train_opt["clear_state"])


