"""Noise-guided data collection: preprocess/ngdc.py and rwsr.prep.ngdc."""
import csv
import math
import os

import numpy as np
import pytest
from conftest import run_script
from skimage import data

from rwsr.cli import ngdc as SCRIPT
from rwsr.data.train_list import read_train_list
from rwsr.prep import ngdc
from rwsr.utils.image_io import write_image
from rwsr.utils.imresize import imresize_uint8

N_PRIMARY = 8
POOL_SIGMA = 8.0


def _noisy(img, sigma, seed):
    noise = np.random.default_rng(seed).normal(0.0, sigma, img.shape)
    return np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Primary HR/LR pairs, clean and noisy auxiliary HR images, a Gaussian noise pool."""
    root = tmp_path_factory.mktemp("ngdc")
    astronaut, coffee = data.astronaut(), data.coffee()
    for i in range(N_PRIMARY):
        hr = astronaut[64 * (i // 4): 64 * (i // 4) + 128, 96 * (i % 4): 96 * (i % 4) + 128]
        write_image(str(root / "gt" / f"p{i}.png"), hr)
        write_image(str(root / "lq" / f"p{i}.png"), imresize_uint8(hr, 0.25))
    for i in range(3):
        crop = coffee[100 * i: 100 * i + 160, 150 * i: 150 * i + 200]
        write_image(str(root / "aux" / f"clean{i}.png"), crop)
        write_image(str(root / "aux" / f"noisy{i}.png"), _noisy(crop, 40.0, i))  # about 8 at LR
    rng = np.random.default_rng(7)
    for i in range(5):
        patch = np.clip(np.rint(120 + rng.normal(0, POOL_SIGMA, (32, 32, 3))), 0, 255).astype(np.uint8)
        write_image(str(root / "noise" / f"n{i}.png"), patch)
    (root / "empty").mkdir()
    return root


def _args(folders, output, *extra):
    return ["--primary_gt", str(folders / "gt"), "--primary_lq", str(folders / "lq"), "--aux", str(folders / "aux"),
            "--noise", str(folders / "noise"), "--output", str(output), *map(str, extra)]


def _ranking(output):
    with open(ngdc.ranking_path(str(output)), encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_list_keeps_epoch_length_and_share_and_picks_clean_auxiliary_images(folders, tmp_path):
    output = tmp_path / "lists" / "train.txt"
    result = run_script("preprocess/ngdc.py", *_args(folders, output, "--share", 0.25))
    assert result.returncode == 0, result.stderr
    samples = read_train_list(str(output))  # the reader the paired dataset uses
    assert len(samples) == N_PRIMARY
    auxiliary = [gt for gt, lq in samples if lq is None]
    assert len(auxiliary) == 2  # 0.25 x 8
    assert all(os.path.basename(p).startswith("clean") for p in auxiliary)
    for gt, lq in samples:
        if lq is not None:
            assert os.path.dirname(gt) == str(folders / "gt") and os.path.basename(gt) == os.path.basename(lq)
    text = output.read_text(encoding="utf-8")
    assert "\t-\n" in text and "../" in text  # on-the-fly marker, paths relative to the list folder
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("share=0.25 scale=4 margin=0.5" in line for line in header)
    assert any(line.startswith("# noise pool: 5 patches, level (median zero-mean std) 7.") for line in header)
    assert "3 of 6 auxiliary images eligible" in text


def test_ranking_puts_clean_images_first_and_rejects_noisy_ones(folders, tmp_path):
    output = tmp_path / "train.txt"
    assert SCRIPT.main(_args(folders, output, "--share", 0.25)) == 0
    rows = _ranking(output)  # pool level ~ POOL_SIGMA: the std of the Gaussian patches
    names = [os.path.basename(row["path"]) for row in rows]
    assert sorted(names[:3]) == ["clean0.png", "clean1.png", "clean2.png"]
    assert [row["status"] for row in rows] == ["selected"] * 2 + ["eligible"] + ["too noisy"] * 3
    sigmas = [float(row["sigma_lr"]) for row in rows]
    assert sigmas == sorted(sigmas)
    assert max(sigmas[:3]) < 0.5 * POOL_SIGMA < min(sigmas[3:])
    assert [int(row["rank"]) for row in rows] == list(range(1, 7))


def test_too_few_eligible_images_are_filled_with_primary_pairs(folders, tmp_path, capsys):
    output = tmp_path / "train.txt"
    assert SCRIPT.main(_args(folders, output, "--share", 1.0)) == 0
    assert "asks for 8 auxiliary images but only 3 are eligible" in capsys.readouterr().out
    samples = read_train_list(str(output))
    assert len(samples) == N_PRIMARY
    assert sum(lq is None for _, lq in samples) == 3


def test_share_zero_lists_every_primary_pair_and_seed_picks_the_subset(folders, tmp_path):
    outputs = {}
    for name, extra in (("all", ["--share", 0]), ("s0", ["--seed", 0]), ("s0b", ["--seed", 0]),
                        ("s1", ["--seed", 1])):
        outputs[name] = tmp_path / f"{name}.txt"
        assert SCRIPT.main(_args(folders, outputs[name], *extra)) == 0
    every = read_train_list(str(outputs["all"]))
    assert [os.path.basename(gt) for gt, _ in every] == [f"p{i}.png" for i in range(N_PRIMARY)]
    primary = {name: [gt for gt, lq in read_train_list(str(outputs[name])) if lq is not None]
               for name in ("s0", "s0b", "s1")}
    assert primary["s0"] == primary["s0b"] and primary["s0"] != primary["s1"]
    expected = sorted(np.random.default_rng(0).choice(N_PRIMARY, size=6, replace=False))
    assert [os.path.basename(p) for p in primary["s0"]] == [f"p{i}.png" for i in expected]


def _one_error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_existing_output_needs_overwrite(folders, tmp_path, capsys):
    output = tmp_path / "train.txt"
    output.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        SCRIPT.main(_args(folders, output))
    assert done.value.code == 2
    error = _one_error_line(capsys)
    assert str(output) in error and "--overwrite" in error
    assert output.read_text(encoding="utf-8") == "keep me\n"
    assert SCRIPT.main(_args(folders, output, "--overwrite")) == 0
    assert len(read_train_list(str(output))) == N_PRIMARY


@pytest.mark.parametrize("change, fragments", [
    (("--share", "1.5"), ("--share 1.5", "[0, 1]")),
    (("--share", "-0.1"), ("--share -0.1",)),
    (("--margin", "0"), ("--margin 0",)),
    (("--aux", "EMPTY"), ("empty", "no images")),
    (("--noise", "MISSING"), ("missing", "not a folder")),
    (("--primary_gt", "MISSING"), ("missing", "not a folder")),
])
def test_bad_input_is_one_line_exit_2(folders, tmp_path, capsys, change, fragments):
    args = _args(folders, tmp_path / "train.txt")
    flag, value = change
    value = {"EMPTY": str(folders / "empty"), "MISSING": str(folders / "missing")}.get(value, value)
    args = args[:args.index(flag)] + args[args.index(flag) + 2:] if flag in args else args
    with pytest.raises(SystemExit) as done:
        SCRIPT.main(args + [flag, value])
    assert done.value.code == 2
    error = _one_error_line(capsys)
    for fragment in fragments:
        assert fragment in error
    assert not (tmp_path / "train.txt").exists()


def _candidate(name, sigma, size=100):
    return ngdc.AuxCandidate(name, size, size, sigma)


def test_rank_and_compose_rules():
    cands = [_candidate("a", 1.0), _candidate("b", 0.2), _candidate("c", 3.0), _candidate("tiny", 0.1, size=20),
             _candidate("unmeasurable", math.nan), ngdc.AuxCandidate("broken", status=ngdc.UNREADABLE)]
    ranked = ngdc.rank_candidates(cands, pool_level=4.0, margin=0.5, min_size=64)
    assert [c.path for c in ranked] == ["b", "a", "c", "tiny", "unmeasurable", "broken"]
    assert [c.status for c in ranked] == ["eligible", "eligible", "too noisy", "too small", "too small", "unreadable"]
    assert ranked[1].ratio == pytest.approx(0.25)
    primary = [(f"gt{i}", f"lq{i}") for i in range(10)]
    samples, wanted = ngdc.compose_epoch(primary, ranked, share=0.15, seed=3)  # 1.5 rounds up to 2
    assert wanted == 2 and len(samples) == 10
    assert samples[-2:] == [("b", None), ("a", None)]
    assert [c.status for c in ranked[:2]] == ["selected", "selected"]
    with pytest.raises(Exception, match="share"):
        ngdc.compose_epoch(primary, ranked, share=1.2)


def test_list_fields_are_relative_and_unambiguous(tmp_path):
    base = str(tmp_path / "lists")
    assert ngdc.list_field(str(tmp_path / "hr" / "a.png"), base) == os.path.join("..", "hr", "a.png")
    assert ngdc.list_field(os.path.join(base, "#1.png"), base) == os.path.join(".", "#1.png")
    assert ngdc.list_field(os.path.join(base, "-"), base) == os.path.join(".", "-")
    with pytest.raises(Exception, match="tab"):
        ngdc.list_field(str(tmp_path / "a\tb.png"), base)


def test_paired_dataset_trains_from_the_written_list(folders, tmp_path):
    from rwsr.data.paired_dataset import PairedImageDataset

    output = tmp_path / "train.txt"
    assert SCRIPT.main(_args(folders, output, "--share", 0.25, "--gt_size", 64)) == 0
    dataset_opt = {"GT_size": 64, "use_flip": False, "use_rot": False, "color": "RGB", "train_list": str(output)}
    dataset = PairedImageDataset(dataset_opt, scale=4, phase="train", seed=0)
    assert len(dataset) == N_PRIMARY
    shapes = {tuple(dataset[i]["LQ"].shape) for i in range(len(dataset))}
    assert shapes == {(3, 16, 16)}
    auxiliary = [dataset[i] for i in range(len(dataset)) if "clean" in dataset[i]["GT_path"]]
    assert len(auxiliary) == 2 and all(s["LQ_path"] == s["GT_path"] for s in auxiliary)


def test_unreadable_auxiliary_image_is_skipped_reported_and_fails_at_the_end(folders, tmp_path, capsys):
    aux = tmp_path / "aux"
    aux.mkdir()
    (aux / "clean0.png").write_bytes((folders / "aux" / "clean0.png").read_bytes())
    (aux / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    output = tmp_path / "train.txt"
    args = _args(folders, output)
    args[args.index("--aux") + 1] = str(aux)
    with pytest.raises(SystemExit) as done:
        SCRIPT.main(args)
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "skipped:" in err and "broken.png" in err
    assert [line for line in err.splitlines() if line.startswith("error:")][0].count("broken.png") == 1
    assert len(read_train_list(str(output))) == N_PRIMARY  # the usable images still make a list
    assert [row["status"] for row in _ranking(output)] == ["selected", "unreadable"]
