"""Where images come from: a folder, an LMDB or an explicit file list.

Each source maps a key (relative path without extension) to an image and can
tell an image's size cheaply (file header or LMDB meta_info), so datasets can
check every pair when they are built instead of failing mid-training.
"""
import os

from PIL import Image

from ..utils.errors import RwsrError
from ..utils.image_io import list_images, read_image
from ..utils.lmdb_format import is_lmdb
from .lmdb_reader import LmdbImageReader


def image_size(path):
    """(H, W) of an image file from its header; decodes only if PIL cannot parse it."""
    try:
        with Image.open(path) as image:
            width, height = image.size
        return height, width
    except Exception:  # unknown format, bomb guard, damaged header: let OpenCV decide
        return read_image(path).shape[:2]


def _key_of(root, path):
    relative = os.path.relpath(path, root)
    return os.path.splitext(relative)[0].replace(os.sep, "/")


class FolderSource:
    """Images under a folder (recursively), keyed by relative path without extension."""

    def __init__(self, root):
        self.root = root
        self._paths = {}
        for path in list_images(root, recursive=True):
            key = _key_of(root, path)
            if key in self._paths:
                raise RwsrError(f"{path}: same name as {self._paths[key]} with another extension; "
                                "keep one of them")
            self._paths[key] = path
        if not self._paths:
            raise RwsrError(f"{root}: no images found; check the dataset path", exit_code=2)
        self.keys = sorted(self._paths)

    def path(self, key):
        return self._paths[key]

    def shape(self, key):
        return image_size(self._paths[key])

    def read(self, key):
        return read_image(self._paths[key])


# LMDB allows one open environment per database and process, so datasets that
# read the same LMDB (train and val, or two loaders) share one reader.
_SHARED_READERS = {}


def _close_inherited_readers():
    """In a forked child (a DataLoader worker) drop the parent's LMDB handles so they reopen."""
    for reader in _SHARED_READERS.values():
        reader.close()


os.register_at_fork(after_in_child=_close_inherited_readers)


def _shared_reader(root):
    key = (os.getpid(), os.path.realpath(root))
    if key not in _SHARED_READERS:
        _SHARED_READERS[key] = LmdbImageReader(root)
    return _SHARED_READERS[key]


class LmdbSource:
    """An LMDB written by preprocess/create_lmdb.py; sizes come from its meta_info."""

    def __init__(self, root):
        self.root = root
        self._reader = _shared_reader(root)
        self.keys = list(self._reader.keys)
        if not self.keys:
            raise RwsrError(f"{root}: LMDB holds no images; recreate it with preprocess/create_lmdb.py", exit_code=2)

    def path(self, key):
        return os.path.join(self.root, key)

    def shape(self, key):
        return tuple(self._reader.shape(key)[:2])

    def read(self, key):
        return self._reader.read(key)


class FileListSource:
    """Explicit image files (an NGDC train_list); the key is the path itself."""

    def __init__(self, paths):
        self.keys = list(paths)

    def path(self, key):
        return key

    def shape(self, key):
        return image_size(key)

    def read(self, key):
        return read_image(key)


def open_source(root):
    """A FolderSource or LmdbSource for root (an LMDB is a .lmdb folder or has meta_info)."""
    if not os.path.exists(root):
        raise RwsrError(f"{root}: does not exist; fix the dataset path", exit_code=2)
    if is_lmdb(root):
        return LmdbSource(root)
    return FolderSource(root)
