"""Deterministic epoch order, DDP sharding and mid-epoch resume.

The order of an epoch is a pure function of (seed, epoch); each yielded item is
`(index, epoch)` so the dataset derives its augmentation from (seed, epoch,
index) too. A run resumed mid-epoch calls `skip(n)` and sees exactly the
remaining samples it would have seen.
"""
import math

import numpy as np
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """Like DistributedSampler (rank/world_size, padding by repetition) but seeded per epoch.

    pad=False (validation) gives each rank a disjoint share without duplicates.
    """

    def __init__(self, data_source, shuffle=True, seed=0, rank=0, world_size=1, pad=True):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.num_items = len(data_source)
        self.shuffle = shuffle
        self.seed = int(seed or 0)
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def skip(self, n_samples):
        """Leave out the first n_samples of this rank's share at the next iteration only."""
        if n_samples < 0:
            raise ValueError("skip needs a non-negative number of samples")
        self._skip = int(n_samples)

    def epoch_order(self):
        """Every index of the epoch, before sharding."""
        if self.shuffle:
            return np.random.default_rng([self.seed % 2**63, self.epoch]).permutation(self.num_items)
        return np.arange(self.num_items)

    def rank_indices(self):
        """This rank's share of the epoch (without the pending skip)."""
        order = self.epoch_order()
        if self.pad and self.num_items:
            total = math.ceil(self.num_items / self.world_size) * self.world_size
            repeats = math.ceil(total / self.num_items)
            order = np.tile(order, repeats)[:total]
        return order[self.rank::self.world_size]

    def share_size(self):
        """Samples this rank gets per epoch."""
        if self.pad:
            return math.ceil(self.num_items / self.world_size)
        return len(range(self.rank, self.num_items, self.world_size))

    def __len__(self):
        return max(self.share_size() - self._skip, 0)

    def __iter__(self):
        indices = self.rank_indices()[self._skip:]
        self._skip = 0
        epoch = self.epoch
        return iter([(int(index), epoch) for index in indices])
