"""HR images only (`mode: GT`): random crops that the training device degrades into LR batches."""
from torch.utils.data import Dataset

from ..options.schema import DATASET, with_defaults
from ..utils.errors import RwsrError
from ..utils.image_io import to_float32
from . import transforms as T
from .paired_dataset import sample_rng, split_item
from .pairing import check_crop_fits
from .sources import FileListSource, open_source
from .train_list import read_train_list


class GTImageDataset(Dataset):
    """Samples are {"GT": float32 3 x GT_size x GT_size in [0, 1], "GT_path"}; crops and flips follow
    (seed, epoch, index) as in the paired dataset, so a resumed run reads the same crops."""

    def __init__(self, dataset_opt, scale, seed=0, option_prefix="datasets.train"):
        dataset_opt = with_defaults(DATASET, dataset_opt)
        self.seed = int(seed or 0)
        self.gt_size = dataset_opt["GT_size"]
        self.use_flip, self.use_rot = bool(dataset_opt["use_flip"]), bool(dataset_opt["use_rot"])
        if self.gt_size % scale:
            raise RwsrError(f"{option_prefix}.GT_size: {self.gt_size} is not a multiple of scale {scale}", exit_code=2)
        if dataset_opt.get("train_list"):
            self.source = FileListSource([gt for gt, _ in read_train_list(dataset_opt["train_list"])])
        elif dataset_opt.get("dataroot_GT"):
            self.source = open_source(dataset_opt["dataroot_GT"])
        else:
            raise RwsrError(f"{option_prefix}.dataroot_GT: required for mode GT", exit_code=2)
        for key in self.source.keys:
            check_crop_fits(self.source.path(key), self.source.shape(key), self.gt_size, f"{option_prefix}.GT_size")

    def set_seed(self, seed):
        self.seed = int(seed or 0)

    def __len__(self):
        return len(self.source.keys)

    def __getitem__(self, item):
        index, epoch = split_item(item)
        key = self.source.keys[index]
        image = self.source.read(key)  # RGB (gray files are read as three equal channels)
        rng = sample_rng(self.seed, epoch, index)
        top, left = T.random_crop_box(rng, image.shape[0], image.shape[1], self.gt_size)
        crop = to_float32(T.crop(image, top, left, self.gt_size))
        crop = T.apply_flips(crop, T.draw_flips(rng, self.use_flip, self.use_rot))
        return {"GT": T.to_tensor(crop), "GT_path": self.source.path(key)}
