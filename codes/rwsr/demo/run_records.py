"""What a run of `make ablation` left in a result folder, so a rerun skips, resumes or refuses.

Each row of the ablation (an arm, bicubic, the start model) keeps `run.json` in its result
folder: the settings it was made with and, once it is complete, its result. A rerun with the
same settings skips a complete row and resumes an incomplete one; other settings are refused
unless the caller allows overwriting, in which case the old folder is archived, never deleted.
"""
import json
import os

from ..utils.errors import RwsrError
from ..utils.fs import archive_existing, atomic_write_text

RECORD_FILE = "run.json"
NEW, PARTIAL, DONE = "new", "partial", "done"


def read_record(folder):
    """The record of a result folder, or None when it has none."""
    path = os.path.join(folder, RECORD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError) as err:
        raise RwsrError(f"{path}: unreadable run record ({err}); move the folder away or pass --overwrite") from None
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise RwsrError(f"{path}: not a run record of this script; move the folder away or pass --overwrite")
    return record


def write_record(folder, settings, result=None):
    os.makedirs(folder, exist_ok=True)
    text = json.dumps({"settings": settings, "result": result}, indent=2) + "\n"
    atomic_write_text(os.path.join(folder, RECORD_FILE), text)


def first_difference(saved, wanted):
    for key in sorted(set(saved) | set(wanted)):
        if saved.get(key) != wanted.get(key):
            return key, saved.get(key), wanted.get(key)
    return None


def record_status(folder, settings, overwrite=False):
    """NEW, PARTIAL or DONE for `settings`; a folder made with other settings is an error unless overwrite.

    With overwrite the old folder is archived (renamed) and the row starts anew.
    """
    if not os.path.exists(folder):
        return NEW
    try:
        record = read_record(folder)
    except RwsrError:
        if not overwrite:
            raise
        record = None
    if record is not None and record["settings"] == settings:
        return DONE if record.get("result") is not None else PARTIAL
    if not overwrite:
        if record is None:
            raise RwsrError(f"{folder}: exists but was not made by this script; move it away or pass --overwrite")
        key, saved, wanted = first_difference(record["settings"], settings)
        raise RwsrError(f"{folder}: made with {key}={saved!r}, now {key}={wanted!r}; pass --overwrite to archive "
                        "it and rerun, or run with the old settings to keep it")
    archived = archive_existing(folder)
    print(f"archived {folder} to {archived}")
    return NEW
