"""The project's LMDB folder format, shared by its reader (rwsr.data) and writer (rwsr.prep).

Format: one `<name>.lmdb` folder; keys are image paths relative to the source
folder, without extension, '/'-separated, utf-8; values are PNG bytes of the
RGB image (16-bit kept); `meta_info.txt` in the folder lists one image per
line as `key<TAB>H<TAB>W<TAB>C`. BasicSR's `meta_info.txt` lines
(`key.png (H,W,C) level`) are read too, so its LMDBs open unchanged.
"""
import os

META_INFO = "meta_info.txt"


def is_lmdb(path):
    """True for a folder holding an LMDB database (data.mdb)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "data.mdb"))
