"""Reading an NGDC training list (`datasets.<name>.train_list`).

Format: UTF-8 text, one sample per line `GT_path<TAB>LQ_path`; LQ_path `-`
means "make the LR on the fly with MATLAB bicubic". Relative paths are
relative to the list file's folder; blank lines and lines starting with `#`
are ignored.
"""
import os

from ..utils.errors import RwsrError

ON_THE_FLY = "-"


def _resolve(base, path):
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base, path))


def _parse_line(list_path, number, line, base):
    fields = line.split("\t")
    if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
        raise RwsrError(f"{list_path}:{number}: expected 'GT_path<TAB>LQ_path' (LQ_path '-' for on-the-fly LR)")
    gt_path = _resolve(base, fields[0].strip())
    lq_field = fields[1].strip()
    lq_path = None if lq_field == ON_THE_FLY else _resolve(base, lq_field)
    for path in (gt_path, lq_path):
        if path is not None and not os.path.isfile(path):
            raise RwsrError(f"{list_path}:{number}: {path} does not exist; regenerate the list or fix the path")
    return gt_path, lq_path


def read_train_list(list_path):
    """[(gt_path, lq_path or None), ...] in file order."""
    try:
        with open(list_path, "r", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise RwsrError(f"{list_path}: cannot read train_list ({reason})", exit_code=2) from None
    base = os.path.dirname(os.path.abspath(list_path))
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs.append(_parse_line(list_path, number, line, base))
    if not pairs:
        raise RwsrError(f"{list_path}: train_list names no samples", exit_code=2)
    return pairs
