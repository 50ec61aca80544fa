"""File-system helpers: atomic writes and archiving of existing folders."""
import os
import tempfile
import time


def atomic_write(path, write_fn):
    """Call write_fn(tmp_path), then rename tmp_path to path.

    A crash leaves either the old file or the new one, never a partial file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        write_fn(tmp_path)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def atomic_write_bytes(path, data):
    def write(tmp_path):
        with open(tmp_path, "wb") as handle:
            handle.write(data)

    atomic_write(path, write)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def archive_existing(path):
    """Rename an existing folder to <path>_archived_<YYYYmmdd_HHMMSS>; return the new name."""
    path = os.fspath(path).rstrip(os.sep)
    if not os.path.exists(path):
        return None
    stamp = time.strftime("%Y%m%d_%H%M%S")
    target = f"{path}_archived_{stamp}"
    suffix = 1
    while os.path.exists(target):
        target = f"{path}_archived_{stamp}_{suffix}"
        suffix += 1
    os.rename(path, target)
    return target


def is_inside(child, parent):
    """True when child is parent or lies under it (after resolving links)."""
    child = os.path.realpath(child)
    parent = os.path.realpath(parent)
    return child == parent or child.startswith(parent + os.sep)
