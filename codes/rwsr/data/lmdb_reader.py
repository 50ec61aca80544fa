"""Reading images from an LMDB folder (format: rwsr.utils.lmdb_format)."""
import os
import re

import lmdb

from ..utils.errors import RwsrError
from ..utils.image_io import decode_image
from ..utils.lmdb_format import META_INFO, is_lmdb

_BASICSR_META = re.compile(r"^(?P<name>.+?) \((?P<h>\d+), ?(?P<w>\d+), ?(?P<c>\d+)\)(?: \S+)?$")


def _parse_meta_line(line, meta_path, line_number):
    fields = line.split("\t")
    if len(fields) == 4:
        key, h, w, c = fields
    else:
        match = _BASICSR_META.match(line)
        if not match:
            raise RwsrError(f"{meta_path}:{line_number}: expected 'key<TAB>H<TAB>W<TAB>C'; "
                            "recreate the LMDB with preprocess/create_lmdb.py")
        key = os.path.splitext(match["name"])[0]
        h, w, c = match["h"], match["w"], match["c"]
    try:
        return key, (int(h), int(w), int(c))
    except ValueError:
        raise RwsrError(f"{meta_path}:{line_number}: H, W, C must be integers; "
                        "recreate the LMDB with preprocess/create_lmdb.py") from None


def read_meta_info(path):
    """{key: (H, W, C)} from the LMDB folder's meta_info.txt."""
    meta_path = os.path.join(path, META_INFO)
    if not os.path.isfile(meta_path):
        raise RwsrError(f"{path}: no {META_INFO} in the LMDB folder; create it with preprocess/create_lmdb.py")
    shapes = {}
    with open(meta_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                key, shape = _parse_meta_line(line, meta_path, number)
                shapes[key] = shape
    if not shapes:
        raise RwsrError(f"{meta_path}: lists no images; recreate the LMDB with preprocess/create_lmdb.py")
    return shapes


class LmdbImageReader:
    """Random access to the images of an LMDB folder.

    The environment is opened lazily, read-only and without locks, once per
    process: DataLoader workers each get their own handle after unpickling.
    """

    def __init__(self, path):
        if not is_lmdb(path):
            raise RwsrError(f"{path}: not an LMDB folder (no data.mdb); create it with preprocess/create_lmdb.py")
        self.path = path
        self._shapes = read_meta_info(path)
        self.keys = sorted(self._shapes)
        self._env = None
        self._pid = None

    def __len__(self):
        return len(self.keys)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_env"] = None
        state["_pid"] = None
        return state

    def _environment(self):
        if self._env is None or self._pid != os.getpid():
            try:
                self._env = lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False)
            except lmdb.Error as err:
                raise RwsrError(f"{self.path}: cannot open LMDB ({err})") from None
            self._pid = os.getpid()
        return self._env

    def shape(self, key):
        try:
            return self._shapes[key]
        except KeyError:
            raise RwsrError(f"{self.path}: no image with key {key!r}") from None

    def read_bytes(self, key):
        with self._environment().begin(write=False) as txn:
            data = txn.get(key.encode("utf-8"))
        if data is None:
            raise RwsrError(f"{self.path}: key {key!r} is listed in {META_INFO} but not stored; recreate the LMDB")
        return data

    def read(self, key):
        """The image as an RGB uint8/uint16 HxWx3 array."""
        self.shape(key)
        return decode_image(self.read_bytes(key), name=f"{self.path}:{key}")

    def close(self):
        if self._env is not None:
            self._env.close()
            self._env = None
