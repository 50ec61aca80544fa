import os

import yaml

from rwsr.options import dump_options, validate
from rwsr.utils.experiment import prepare_experiment
from rwsr.utils.fs import atomic_write_bytes
from rwsr.utils.logger import setup_logger


def _opt(root):
    return validate({"name": "exp", "path": {"experiments_root": str(root), "tb_logger_root": str(root / "tb")},
                     "datasets": {"train": {"dataroot_GT": "hr"}}, "train": {"niter": 5}})


def test_existing_experiment_is_archived_not_deleted(tmp_path):
    opt = _opt(tmp_path)
    paths, archived = prepare_experiment(opt, dump_options(opt))
    assert archived is None
    for sub in ("models", "training_state", "val_images"):
        assert os.path.isdir(os.path.join(tmp_path, "exp", sub))
    marker = os.path.join(paths["models"], "10_G.pth")
    open(marker, "wb").write(b"weights")

    paths, archived = prepare_experiment(opt, dump_options(opt))
    assert archived is not None and os.path.basename(archived).startswith("exp_archived_")
    stamp = os.path.basename(archived)[len("exp_archived_"):]
    assert len(stamp) == 15 and stamp[8] == "_" and stamp.replace("_", "").isdigit()
    assert open(os.path.join(archived, "models", "10_G.pth"), "rb").read() == b"weights"
    assert os.listdir(paths["models"]) == []


def test_resume_keeps_folder(tmp_path):
    opt = _opt(tmp_path)
    paths, _ = prepare_experiment(opt, dump_options(opt))
    open(os.path.join(paths["models"], "5_G.pth"), "wb").write(b"x")
    _, archived = prepare_experiment(opt, dump_options(opt), resume=True)
    assert archived is None
    assert os.listdir(paths["models"]) == ["5_G.pth"]


def test_resolved_options_written_and_reloadable(tmp_path):
    opt = _opt(tmp_path)
    paths, _ = prepare_experiment(opt, dump_options(opt))
    saved = yaml.safe_load(open(paths["options"]))
    assert saved["train"]["niter"] == 5
    assert saved["network_G"]["nb"] == 23  # defaults are written out
    assert validate(saved) == {k: v for k, v in opt.items()}


def test_logger_writes_console_and_file(tmp_path, capsys):
    log_file = tmp_path / "train.log"
    logger = setup_logger(str(log_file))
    logger.info("hello %d", 3)
    for handler in logger.handlers:
        handler.flush()
    assert "hello 3" in log_file.read_text()
    assert "hello 3" in capsys.readouterr().out
    quiet = setup_logger(str(tmp_path / "rank1.log"), rank=1)
    quiet.info("not shown")
    assert not (tmp_path / "rank1.log").exists()


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(str(target), b"123")
    atomic_write_bytes(str(target), b"456")
    assert target.read_bytes() == b"456"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_atomic_write_uses_default_permissions(tmp_path):
    target = tmp_path / "b.bin"
    atomic_write_bytes(str(target), b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~umask


def test_partial_and_hidden_files_are_not_images(tmp_path):
    from rwsr.utils.image_io import list_images, write_image
    import numpy as np
    write_image(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / ".tmp_1_b.png").write_bytes(b"partial")
    (tmp_path / ".tmp_2_c.png.partial").write_bytes(b"partial")
    assert [os.path.basename(p) for p in list_images(str(tmp_path))] == ["a.png"]


def test_tensorboard_folder_is_archived_with_the_experiment(tmp_path):
    opt = _opt(tmp_path)
    events = tmp_path / "tb" / "exp"
    events.mkdir(parents=True)
    (events / "events.out.tfevents.1").write_bytes(b"old run")
    prepare_experiment(opt, dump_options(opt), resume=True)
    assert (events / "events.out.tfevents.1").exists()
    prepare_experiment(opt, dump_options(opt))
    assert not events.exists()
    archived = [p for p in os.listdir(tmp_path / "tb") if p.startswith("exp_archived_")]
    assert len(archived) == 1
    assert (tmp_path / "tb" / archived[0] / "events.out.tfevents.1").read_bytes() == b"old run"
