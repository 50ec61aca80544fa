"""LR images only (`mode: LR`), for test.py: whole images, no augmentation."""
from torch.utils.data import Dataset

from ..utils.errors import RwsrError
from ..utils.image_io import to_float32
from . import transforms as T
from .paired_dataset import split_item
from .sources import open_source


class SingleImageDataset(Dataset):
    """Samples are {"LQ": float32 CxHxW in [0, 1], "LQ_path"}; C is 1 for color Y."""

    def __init__(self, dataset_opt, option_prefix="datasets.test"):
        root = dataset_opt.get("dataroot_LR") or dataset_opt.get("dataroot_LQ")
        if not root:
            raise RwsrError(f"{option_prefix}.dataroot_LR: required for mode LR", exit_code=2)
        self.source = open_source(root)
        self.luma = dataset_opt.get("color") == "Y"

    def set_seed(self, seed):
        """Nothing is random here; present so every dataset takes a loader seed."""

    def __len__(self):
        return len(self.source.keys)

    def __getitem__(self, item):
        index, _ = split_item(item)
        key = self.source.keys[index]
        lq = to_float32(self.source.read(key))
        if self.luma:
            lq = T.rgb_to_y(lq)
        return {"LQ": T.to_tensor(lq), "LQ_path": self.source.path(key)}
