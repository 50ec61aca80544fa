"""Experiment folders: experiments/<name>/{models,training_state,val_images}."""
import os

from .fs import archive_existing, atomic_write_text

SUBFOLDERS = ("models", "training_state", "val_images")


def experiment_paths(opt):
    root = os.path.join(opt["path"]["experiments_root"], opt["name"])
    paths = {"root": root, "log": os.path.join(root, "train.log"),
             "options": os.path.join(root, "options.yml"),
             "tb_logger": os.path.join(opt["path"]["tb_logger_root"], opt["name"])}
    for sub in SUBFOLDERS:
        paths[sub] = os.path.join(root, sub)
    return paths


def prepare_experiment(opt, options_text, resume=False):
    """Create the folder tree; an existing one is archived unless resuming.

    Returns (paths, archived_to) where archived_to is None when nothing moved.
    """
    paths = experiment_paths(opt)
    archived = None
    if not resume:
        archived = archive_existing(paths["root"])
        # a new run must not append its curves to the old run's TensorBoard events
        archive_existing(paths["tb_logger"])
    for sub in SUBFOLDERS:
        os.makedirs(paths[sub], exist_ok=True)
    atomic_write_text(paths["options"], options_text)
    return paths, archived
