"""HR/LR pairs (`mode: LQGT`) from folders, LMDBs or an NGDC train_list."""
import numpy as np
from torch.utils.data import Dataset

from ..options.schema import DATASET, with_defaults
from ..utils.errors import RwsrError
from ..utils.image_io import modcrop, to_float32
from . import transforms as T
from .pairing import check_crop_fits, check_pair_sizes, match_by_key
from .sources import FileListSource, open_source
from .train_list import read_train_list


def sample_rng(seed, epoch, index):
    """The generator behind every random choice for one sample in one epoch."""
    return np.random.default_rng([seed % 2**63, epoch, index])


def split_item(item):
    """Dataset items are `index` or `(index, epoch)` (from EpochSampler)."""
    if isinstance(item, (tuple, list)):
        return int(item[0]), int(item[1])
    return int(item), 0


class PairedImageDataset(Dataset):
    """Training: aligned random crops with flips/rotations. Val/test: whole mod-cropped images.

    Samples are {"LQ", "GT": float32 CxHxW in [0, 1], "LQ_path", "GT_path"}; C is 1 for color Y.
    """

    def __init__(self, dataset_opt, scale, phase, seed=0, option_prefix="datasets.train"):
        self.scale = scale
        self.phase = phase
        self.seed = int(seed or 0)
        dataset_opt = with_defaults(DATASET, dataset_opt)
        self.gt_size = dataset_opt["GT_size"]
        self.use_flip = bool(dataset_opt["use_flip"])
        self.use_rot = bool(dataset_opt["use_rot"])
        self.luma = dataset_opt.get("color") == "Y"
        self.option_prefix = option_prefix
        if phase == "train" and self.gt_size % scale:
            raise RwsrError(f"{option_prefix}.GT_size: {self.gt_size} is not a multiple of scale {scale}", exit_code=2)
        self.gt_source, self.lq_source, self.pairs = self._collect(dataset_opt)
        self._check_sizes()

    def set_seed(self, seed):
        self.seed = int(seed or 0)

    def _collect(self, dataset_opt):
        if dataset_opt.get("train_list"):
            listed = read_train_list(dataset_opt["train_list"])
            gt_source = FileListSource([gt for gt, _ in listed])
            lq_source = FileListSource([lq for _, lq in listed if lq is not None])
            return gt_source, lq_source, listed
        if not dataset_opt.get("dataroot_GT"):
            raise RwsrError(f"{self.option_prefix}.dataroot_GT: required for mode LQGT", exit_code=2)
        gt_source = open_source(dataset_opt["dataroot_GT"])
        if not dataset_opt.get("dataroot_LQ"):
            return gt_source, None, [(key, None) for key in gt_source.keys]
        lq_source = open_source(dataset_opt["dataroot_LQ"])
        pairs = match_by_key(gt_source.keys, lq_source.keys, self.scale,
                             dataset_opt["dataroot_GT"], dataset_opt["dataroot_LQ"])
        return gt_source, lq_source, pairs

    def _check_sizes(self):
        for gt_key, lq_key in self.pairs:
            gt_shape = self.gt_source.shape(gt_key)
            gt_name = self.gt_source.path(gt_key)
            if lq_key is not None:
                check_pair_sizes(gt_name, gt_shape, self.lq_source.path(lq_key),
                                 self.lq_source.shape(lq_key), self.scale)
            elif min(gt_shape) < self.scale:
                raise RwsrError(f"{gt_name}: HR image {gt_shape[0]}x{gt_shape[1]} is smaller than scale {self.scale}")
            if self.phase == "train":
                check_crop_fits(gt_name, gt_shape, self.gt_size, f"{self.option_prefix}.GT_size")

    def __len__(self):
        return len(self.pairs)

    def _read_pair(self, gt_key, lq_key):
        """The stored uint8/uint16 arrays; converted to float only after cropping."""
        gt = modcrop(self.gt_source.read(gt_key), self.scale)
        lq = None if lq_key is None else self.lq_source.read(lq_key)
        if lq is not None and (lq.shape[0] * self.scale, lq.shape[1] * self.scale) != gt.shape[:2]:
            # the header said otherwise; the file changed after the dataset was built
            check_pair_sizes(self.gt_source.path(gt_key), gt.shape[:2], self.lq_source.path(lq_key),
                             lq.shape[:2], self.scale)
        return gt, lq

    def _training_crop(self, gt, lq, rng):
        lq_size = self.gt_size // self.scale
        top, left = T.random_crop_box(rng, gt.shape[0] // self.scale, gt.shape[1] // self.scale, lq_size)
        if lq is None:
            lq = T.bicubic_lr_crop(gt, top, left, lq_size, self.scale)
        else:
            lq = to_float32(T.crop(lq, top, left, lq_size))
        gt = to_float32(T.crop(gt, top * self.scale, left * self.scale, self.gt_size))
        flips = T.draw_flips(rng, self.use_flip, self.use_rot)
        return T.apply_flips(gt, flips), T.apply_flips(lq, flips)

    def __getitem__(self, item):
        index, epoch = split_item(item)
        gt_key, lq_key = self.pairs[index]
        gt, lq = self._read_pair(gt_key, lq_key)
        if self.phase == "train":
            gt, lq = self._training_crop(gt, lq, sample_rng(self.seed, epoch, index))
        else:
            gt = to_float32(gt)
            lq = T.bicubic_downscale(gt, self.scale) if lq is None else to_float32(lq)
        if self.luma:
            gt, lq = T.rgb_to_y(gt), T.rgb_to_y(lq)
        lq_path = self.gt_source.path(gt_key) if lq_key is None else self.lq_source.path(lq_key)
        return {"LQ": T.to_tensor(lq), "GT": T.to_tensor(gt),
                "LQ_path": lq_path, "GT_path": self.gt_source.path(gt_key)}
