"""preprocess/ (rwsr.cli, rwsr.prep): create_bicubic_dataset, collect_noise, create_lmdb and the LMDB format."""
import csv
import os
import pickle
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from conftest import REPO, assert_one_line_error, run_script
from rwsr.cli import collect_noise as NOISE
from rwsr.cli import create_bicubic_dataset as BICUBIC
from rwsr.cli import create_lmdb as LMDB
from rwsr.data.lmdb_reader import LmdbImageReader
from rwsr.prep import lmdb_writer
from rwsr.prep.lmdb_writer import LmdbImageWriter
from rwsr.prep.noise_patches import gray_level, tile_statistics
from rwsr.prep.presets import load_preset
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import encode_image, read_image
from rwsr.utils.imresize import imresize, imresize_uint8, quantize_uint8
from rwsr.utils.lmdb_format import is_lmdb

PREPROCESS = os.path.join(REPO, "preprocess")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def call(script, capsys, *args):
    """Run a script's main() in this process (fast), like a command line."""
    try:
        code = script.main([str(a) for a in args]) or 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def save_rgb(path, rgb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def save_raw(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), array)


def save_truncated(path):
    save_rgb(path, data.rocket()[:40, :40])
    with open(path, "rb") as handle:
        head = handle.read(300)
    with open(path, "wb") as handle:
        handle.write(head)


def read_png(path):
    img = read_image(str(path))
    assert img.dtype == np.uint8
    return img


# ---------------------------------------------------------------- create_bicubic_dataset

@pytest.fixture
def photo_folders(tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    astro = data.astronaut()[:203, 100:250]
    coffee16 = data.coffee()[:90, :101].astype(np.uint16) * 257 + 100
    save_rgb(source / "astro.png", astro)
    save_raw(source / "camera.png", data.camera()[:100, :90])  # gray
    save_raw(source / "coffee16.png", np.ascontiguousarray(coffee16[:, :, ::-1]))  # 16-bit
    rgba = np.dstack([data.chelsea()[:60, :70][:, :, ::-1], np.full((60, 70), 128, np.uint8)])
    save_raw(source / "cat_rgba.png", rgba)
    save_rgb(target / "rocket.jpg", data.rocket()[:99, :87])
    return {"source": source, "target": target, "astro": astro, "coffee16": coffee16}


def test_bicubic_pairs_with_workers_skip_bad_files_and_resume(photo_folders, tmp_path, capsys):
    source, target, out = photo_folders["source"], photo_folders["target"], tmp_path / "out"
    save_truncated(source / "broken.png")
    result = run_script("preprocess/create_bicubic_dataset.py", "--source", source, "--target", target,
                        "--output", out, "--workers", 2)
    assert_one_line_error(result, "1 of 6", code=1)
    assert f"skipped: {source / 'broken.png'}" in result.stderr
    assert sorted(os.listdir(out / "HR")) == sorted(os.listdir(out / "LR")) == \
        ["astro.png", "camera.png", "cat_rgba.png", "coffee16.png", "rocket.png"]

    # source: clean-up /2 (ceil), crop to a multiple of 4 from the top left, LR = x1/4 of the saved HR
    hr, lr = read_png(out / "HR" / "astro.png"), read_png(out / "LR" / "astro.png")
    assert hr.shape == (100, 72, 3) and lr.shape == (25, 18, 3)
    assert np.array_equal(hr, imresize_uint8(photo_folders["astro"], 0.5)[:100, :72])
    assert np.array_equal(lr, imresize_uint8(hr, 0.25))
    # 16-bit source: resized on the 0-255 scale and rounded once
    hr16 = read_png(out / "HR" / "coffee16.png")
    expected16 = quantize_uint8(imresize(photo_folders["coffee16"] / 257.0, 0.5))[:44, :48]
    assert np.array_equal(hr16, expected16)
    gray = read_png(out / "HR" / "camera.png")
    assert gray.shape == (48, 44, 3) and np.array_equal(gray[..., 0], gray[..., 2])
    # target: as is, cropped
    target_hr = read_png(out / "HR" / "rocket.png")
    assert np.array_equal(target_hr, read_image(str(target / "rocket.jpg"))[:96, :84])
    assert np.array_equal(read_png(out / "LR" / "rocket.png"), imresize_uint8(target_hr, 0.25))

    # rerun: finished pairs are skipped, nothing is rewritten
    os.remove(source / "broken.png")
    os.remove(out / "LR" / "camera.png")  # as if interrupted between HR and LR
    stamps = {name: os.stat(out / "HR" / name).st_mtime_ns for name in os.listdir(out / "HR")}
    rerun = call(BICUBIC, capsys, "--source", source, "--target", target, "--output", out)
    assert rerun.returncode == 0, rerun.stderr
    assert "wrote 1 HR/LR pairs, 4 already done, 0 skipped" in rerun.stdout
    assert all(os.stat(out / "HR" / name).st_mtime_ns == stamp
               for name, stamp in stamps.items() if name != "camera.png")
    assert os.path.exists(out / "LR" / "camera.png")

    # other settings: refused without --overwrite, redone with it
    changed = call(BICUBIC, capsys, "--source", source, "--target", target, "--output", out, "--cleanup_factor", 3)
    assert_one_line_error(changed, str(out), "cleanup_factor 2.0 -> 3.0", "--overwrite", code=2)
    redone = call(BICUBIC, capsys, "--source", source, "--target", target, "--output", out,
                  "--cleanup_factor", 3, "--overwrite")
    assert redone.returncode == 0 and read_png(out / "HR" / "astro.png").shape == (68, 48, 3)


def write_paths_file(tmp_path, source, target, root, noise=None):
    text = (f"df2k:\n  tdsr:\n    source: {source}\n    target: {target or ''}\n"
            f"    noise: {noise or {}}\ndatasets:\n  df2k: {root}\n")
    path = tmp_path / "paths.yml"
    path.write_text(text)
    return path


def test_bicubic_preset_form_writes_into_dataset_root(photo_folders, tmp_path, capsys):
    root = tmp_path / "DF2K"
    paths = write_paths_file(tmp_path, photo_folders["source"], photo_folders["target"], root)
    result = call(BICUBIC, capsys, "--dataset", "df2k", "--artifacts", "tdsr", "--paths", paths,
                  "--upscale_factor", 2)
    assert result.returncode == 0, result.stderr
    assert len(os.listdir(root / "generated" / "tdsr" / "HR")) == 5
    assert read_png(root / "generated" / "tdsr" / "LR" / "astro.png").shape == (51, 37, 3)
    unknown = call(BICUBIC, capsys, "--dataset", "div2k", "--paths", paths)
    assert_one_line_error(unknown, "no preset div2k.tdsr", "available: df2k.tdsr", code=2)
    mixed = call(BICUBIC, capsys, "--dataset", "df2k", "--paths", paths, "--output", tmp_path / "x")
    assert_one_line_error(mixed, "--dataset cannot be combined with --output", code=2)


def test_bundled_paths_file_has_the_official_presets():
    preset = load_preset(os.path.join(PREPROCESS, "paths.yml"), "df2k", "tdsr")
    assert preset["root"] == os.path.join(REPO, "datasets", "DF2K")
    assert preset["noise"] == {"folder": "Corrupted_noise", "patch_size": 256, "max_var": 20, "min_mean": 0}
    dped = load_preset(os.path.join(PREPROCESS, "paths.yml"), "dped", "tdsr")
    assert dped["target"] is None and dped["noise"]["min_mean"] == 50


@pytest.mark.parametrize("case", ["output_in_input", "input_in_output", "empty", "scale", "zero_scale",
                                  "same_stem", "no_form", "bad_flag", "output_is_file", "workers"])
def test_bicubic_bad_input_is_one_line_exit_2(case, tmp_path, capsys):
    source = tmp_path / "source"
    save_rgb(source / "a.png", data.astronaut()[:64, :64])
    args = {"output_in_input": ["--source", source, "--output", source / "out"],
            "input_in_output": ["--source", source, "--output", tmp_path],
            "empty": ["--source", tmp_path / "empty", "--output", tmp_path / "out"],
            "scale": ["--source", source, "--output", tmp_path / "out", "--upscale_factor", 2.5],
            "zero_scale": ["--source", source, "--output", tmp_path / "out", "--cleanup_factor", 0],
            "same_stem": ["--source", source, "--output", tmp_path / "out"],
            "no_form": ["--source", source],
            "bad_flag": ["--source", source, "--output", tmp_path / "out", "--scale", 4],
            "output_is_file": ["--source", source, "--output", tmp_path / "file"],
            "workers": ["--source", source, "--output", tmp_path / "out", "--workers", 0]}[case]
    fragments = {"output_in_input": ["lies inside input folder"], "input_in_output": ["lies inside output"],
                 "empty": ["no images found"], "scale": ["--upscale_factor 2.5", "whole number"],
                 "zero_scale": ["--cleanup_factor 0"], "same_stem": ["a.jpg", "a.png", "share the name"],
                 "no_form": ["--output"], "bad_flag": ["--scale"],
                 "output_is_file": ["file exists and is not a folder"], "workers": ["--workers 0"]}[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a folder")
    if case == "same_stem":
        save_rgb(source / "a.jpg", data.astronaut()[:64, :64])
    result = call(BICUBIC, capsys, *args)
    assert_one_line_error(result, *fragments, code=2)
    assert not os.path.exists(tmp_path / "out")


def test_bicubic_refuses_foreign_images_in_output(photo_folders, tmp_path, capsys):
    out = tmp_path / "out"
    save_rgb(out / "HR" / "mine.png", data.astronaut()[:8, :8])
    result = call(BICUBIC, capsys, "--source", photo_folders["source"], "--output", out)
    assert_one_line_error(result, "not made by this script", "--overwrite", code=2)
    assert os.listdir(out / "HR") == ["mine.png"]


# ---------------------------------------------------------------- collect_noise

def flat_tile(rng, level, size):
    return np.clip(level + rng.normal(0, 2.0, (size, size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def noise_source(tmp_path):
    """A photo with two flat tiles: one top left, one in the last row and column."""
    rng = np.random.default_rng(0)
    img = data.astronaut()[:256, :192].copy()
    img[:64, :64] = flat_tile(rng, 60, 64)
    img[192:, 128:] = flat_tile(rng, 200, 64)
    save_rgb(tmp_path / "source" / "astro.png", img)
    save_rgb(tmp_path / "source" / "coffee.png", data.coffee()[150:300, 200:400])  # no flat tile
    return tmp_path / "source"


def pil_tiles(path, size, stride, max_var, min_mean):
    """Independent selection: PIL gray image, np.mean / np.var per tile in plain loops."""
    rgb = Image.open(path).convert("RGB")
    gray = np.asarray(rgb.convert("L"), dtype=np.float64)
    kept = []
    for y in range(0, gray.shape[0] - size + 1, stride):
        for x in range(0, gray.shape[1] - size + 1, stride):
            tile = gray[y:y + size, x:x + size]
            if tile.var() < max_var and tile.mean() > min_mean:
                kept.append((x, y, tile.mean(), tile.var()))
    return np.asarray(rgb), kept


def read_index(folder):
    with open(folder / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("stride", [None, 24])
def test_noise_tiles_match_an_independent_selection(noise_source, tmp_path, capsys, stride):
    out = tmp_path / "noise"
    args = ["--source", noise_source, "--output", out, "--patch_size", 64, "--max_var", 20]
    result = call(NOISE, capsys, *args, *(["--stride", stride] if stride else []))
    assert result.returncode == 0, result.stderr
    rows = read_index(out)
    expected_rows = []
    for name in ("astro", "coffee"):
        rgb, kept = pil_tiles(noise_source / f"{name}.png", 64, stride or 64, 20, 0)
        for idx, (x, y, mean, var) in enumerate(kept):
            expected_rows.append((f"{name}_{idx:03d}.png", f"{name}.png", x, y, mean, var))
            assert np.array_equal(read_png(out / f"{name}_{idx:03d}.png"), rgb[y:y + 64, x:x + 64])
    assert [(r["patch"], r["source"], int(r["x"]), int(r["y"])) for r in rows] == \
        [row[:4] for row in expected_rows]
    np.testing.assert_allclose([[float(r["mean"]), float(r["var"])] for r in rows],
                               [row[4:] for row in expected_rows], atol=1e-4)
    assert sorted(os.listdir(out)) == sorted([row[0] for row in expected_rows] + ["index.csv"])
    if stride is None:
        # the tile in the last row and column counts (the official loop would skip it)
        assert ("astro.png", 128, 192) in [(r["source"], int(r["x"]), int(r["y"])) for r in rows]


def test_noise_workers_overwrite_and_min_mean(noise_source, tmp_path, capsys):
    out = tmp_path / "noise"
    save_truncated(noise_source / "broken.png")
    first = run_script("preprocess/collect_noise.py", "--source", noise_source, "--output", out,
                       "--patch_size", 64, "--workers", 2)
    assert_one_line_error(first, "1 of 3", code=1)
    assert f"skipped: {noise_source / 'broken.png'}" in first.stderr
    assert [r["patch"] for r in read_index(out)] == ["astro_000.png", "astro_001.png"]
    os.remove(noise_source / "broken.png")
    (out / "notes.txt").write_text("mine")

    refused = call(NOISE, capsys, "--source", noise_source, "--output", out, "--patch_size", 64)
    assert_one_line_error(refused, str(out), "not empty", "--overwrite", code=2)
    # only the bright tile has a mean above 100; the stale patch of the first run goes, other files stay
    again = call(NOISE, capsys, "--source", noise_source, "--output", out, "--patch_size", 64,
                 "--min_mean", 100, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert [(r["patch"], r["x"], r["y"]) for r in read_index(out)] == [("astro_000.png", "128", "192")]
    assert sorted(os.listdir(out)) == ["astro_000.png", "index.csv", "notes.txt"]


def test_noise_preset_and_bad_input(noise_source, tmp_path, capsys):
    root = tmp_path / "DF2K"
    paths = write_paths_file(tmp_path, noise_source, None, root,
                             noise={"folder": "Corrupted_noise", "patch_size": 64, "max_var": 20, "min_mean": 0})
    result = call(NOISE, capsys, "--dataset", "df2k", "--paths", paths)
    assert result.returncode == 0, result.stderr
    assert len(read_index(root / "Corrupted_noise")) == 2

    none = call(NOISE, capsys, "--source", noise_source, "--output", tmp_path / "none", "--patch_size", 64,
                "--max_var", 1)
    assert_one_line_error(none, "no tile passed", "raise --max_var", code=1)
    assert not os.path.exists(tmp_path / "none")
    inside = call(NOISE, capsys, "--source", noise_source, "--output", noise_source / "noise")
    assert_one_line_error(inside, "lies inside input folder", code=2)
    (tmp_path / "empty").mkdir()
    empty = call(NOISE, capsys, "--source", tmp_path / "empty", "--output", tmp_path / "n2")
    assert_one_line_error(empty, "no images found", code=2)


def test_tile_statistics_are_exact():
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (50, 70))
    ys, xs, mean, var = tile_statistics(gray, 16, 5)
    assert ys.tolist() == list(range(0, 35, 5)) and xs.tolist() == list(range(0, 55, 5))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            tile = gray[y:y + 16, x:x + 16]
            assert mean[i, j] == pytest.approx(tile.mean(), abs=1e-12)
            assert var[i, j] == pytest.approx(tile.var(), abs=1e-9)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(gray_level(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


# ---------------------------------------------------------------- create_lmdb and the LMDB format

@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "images"
    save_rgb(root / "a.png", data.astronaut()[:50, :40])
    save_raw(root / "sub" / "gray.png", data.camera()[:30, :20])
    save_raw(root / "sub" / "deep16.png", (data.coffee()[:30, :33, ::-1].astype(np.uint16) * 257 + 3))
    save_rgb(root / "sub" / "cat.jpg", data.chelsea()[:30, :33])
    rgba = np.dstack([data.rocket()[:20, :25][:, :, ::-1], np.zeros((20, 25), np.uint8)])
    save_raw(root / "sub" / "more" / "rgba.png", rgba)
    return root


def test_create_lmdb_reads_back_bit_identical(image_tree, tmp_path):
    save_truncated(image_tree / "sub" / "broken.png")
    out = tmp_path / "train.lmdb"
    result = run_script("preprocess/create_lmdb.py", "--input", image_tree, "--output", out, "--workers", 2)
    assert_one_line_error(result, "1 of 6", code=1)
    assert f"skipped: {image_tree / 'sub' / 'broken.png'}" in result.stderr
    assert is_lmdb(str(out)) and not os.path.exists(tmp_path / ".train.lmdb.partial")
    sources = {"a": "a.png", "sub/cat": "sub/cat.jpg", "sub/deep16": "sub/deep16.png",
               "sub/gray": "sub/gray.png", "sub/more/rgba": "sub/more/rgba.png"}
    meta = (out / "meta_info.txt").read_text().splitlines()
    reader = pickle.loads(pickle.dumps(LmdbImageReader(str(out))))  # as a DataLoader worker gets it
    assert reader.keys == sorted(sources)
    for key, line in zip(reader.keys, meta):
        expected = read_image(str(image_tree / sources[key]))
        img = reader.read(key)
        assert img.dtype == expected.dtype and np.array_equal(img, expected), key
        assert line == "\t".join([key, *map(str, expected.shape)])
        assert reader.shape(key) == expected.shape
    assert reader.read("sub/deep16").dtype == np.uint16
    with pytest.raises(RwsrError, match="no image with key 'nope'"):
        reader.read("nope")


def test_create_lmdb_bad_input(image_tree, tmp_path, capsys):
    out = tmp_path / "x.lmdb"
    assert call(LMDB, capsys, "--input", image_tree, "--output", out).returncode == 0
    again = call(LMDB, capsys, "--input", image_tree, "--output", out)
    assert_one_line_error(again, str(out), "already exists", "--overwrite", code=2)
    save_rgb(image_tree / "z.png", data.astronaut()[:10, :12])
    replaced = call(LMDB, capsys, "--input", image_tree, "--output", out, "--overwrite")
    assert replaced.returncode == 0 and "z" in LmdbImageReader(str(out)).keys

    save_rgb(image_tree / "sub" / "cat.png", data.chelsea()[:8, :8])
    duplicate = call(LMDB, capsys, "--input", image_tree, "--output", tmp_path / "d.lmdb")
    assert_one_line_error(duplicate, "sub/cat.jpg", "sub/cat.png", "key 'sub/cat'", code=2)
    named = call(LMDB, capsys, "--input", image_tree, "--output", tmp_path / "plain")
    assert_one_line_error(named, "*.lmdb", code=2)
    inside = call(LMDB, capsys, "--input", image_tree, "--output", image_tree / "x.lmdb")
    assert_one_line_error(inside, "lies inside input folder", code=2)


def test_lmdb_writer_grows_its_map(tmp_path, monkeypatch):
    monkeypatch.setattr(lmdb_writer, "_MIN_MAP_SIZE", 64 * 1024)
    rng = np.random.default_rng(0)
    images = {f"noise{i}": rng.integers(0, 256, (100, 100, 3), dtype=np.uint8) for i in range(6)}
    path = str(tmp_path / "grow.lmdb")
    writer = LmdbImageWriter(path, expected_bytes=0, commit_bytes=1)
    for key, img in images.items():
        writer.put(key, encode_image(img), img.shape)
    assert writer.close() > 6 * 30000  # incompressible PNGs: the map had to grow past 64 KiB
    reader = LmdbImageReader(path)
    assert all(np.array_equal(reader.read(key), img) for key, img in images.items())


def test_lmdb_reader_reads_basicsr_meta_info_and_rejects_bad_folders(tmp_path):
    path = str(tmp_path / "basicsr.lmdb")
    writer = LmdbImageWriter(path)
    img = data.astronaut()[:12, :10]
    writer.put("0001", encode_image(img), img.shape)
    writer.close()
    (tmp_path / "basicsr.lmdb" / "meta_info.txt").write_text("0001.png (12,10,3) 1\n")
    reader = LmdbImageReader(path)
    assert reader.keys == ["0001"] and reader.shape("0001") == (12, 10, 3)
    assert np.array_equal(reader.read("0001"), img)
    (tmp_path / "basicsr.lmdb" / "meta_info.txt").write_text("0001 twelve\n")
    with pytest.raises(RwsrError, match=r"meta_info.txt:1: expected 'key<TAB>H<TAB>W<TAB>C'"):
        LmdbImageReader(path)
    with pytest.raises(RwsrError, match="not an LMDB folder"):
        LmdbImageReader(str(tmp_path))
