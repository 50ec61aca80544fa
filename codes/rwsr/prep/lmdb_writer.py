"""Writing images into a new LMDB folder (format: rwsr.utils.lmdb_format)."""
import os

import lmdb

from ..utils.lmdb_format import META_INFO

_MIN_MAP_SIZE = 1 << 24  # 16 MiB: room for LMDB's own pages on tiny sets


def format_meta_info(shapes):
    """The text of meta_info.txt: one `key<TAB>H<TAB>W<TAB>C` line per image, sorted by key."""
    return "".join(f"{key}\t{h}\t{w}\t{c}\n" for key, (h, w, c) in sorted(shapes.items()))


class LmdbImageWriter:
    """Writes (key, PNG bytes) pairs; the map grows when it fills up.

    The map starts at `expected_bytes` plus room for LMDB's pages and doubles
    on MapFullError, so its size follows the data without a second pass.
    """

    def __init__(self, path, expected_bytes=0, commit_bytes=256 << 20):
        self.path = path
        self.shapes = {}
        self._map_size = max(_MIN_MAP_SIZE, int(expected_bytes * 1.25))
        self._env = lmdb.open(path, map_size=self._map_size, subdir=True, meminit=False, map_async=True)
        self._pending = []
        self._pending_bytes = 0
        self._commit_bytes = commit_bytes

    def put(self, key, png_bytes, shape):
        self._pending.append((key.encode("utf-8"), png_bytes))
        self._pending_bytes += len(png_bytes)
        self.shapes[key] = tuple(int(v) for v in shape)
        if self._pending_bytes >= self._commit_bytes:
            self.commit()

    def commit(self):
        while self._pending:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in self._pending:
                        txn.put(key, value)
            except lmdb.MapFullError:
                self._map_size *= 2
                self._env.set_mapsize(self._map_size)
                continue
            self._pending = []
            self._pending_bytes = 0

    def close(self):
        """Commit, write meta_info.txt, close; returns the final map size."""
        self.commit()
        self._env.sync()
        self._env.close()
        with open(os.path.join(self.path, META_INFO), "w", encoding="utf-8") as handle:
            handle.write(format_meta_info(self.shapes))
        return self._map_size
