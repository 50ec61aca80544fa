"""test.py end to end: both forms, files and metrics written, and every kind of bad input."""
import csv
import json
import os
import shutil
import types

import numpy as np
import pytest
import torch
from skimage import data

from conftest import REPO, assert_one_line_error, run_script
from rwsr.archs import build_generator
from rwsr.archs.network_files import save_network
from rwsr.inference import SRInference, image_to_tensor, tensor_to_uint8
from rwsr.metrics import calculate_psnr, calculate_ssim
from rwsr.utils.image_io import read_image, write_image
from rwsr.utils.imresize import imresize_uint8

ARCH = {"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8, "upscale": 4}
PHOTOS = {"astronaut": data.astronaut()[40:136, 180:300], "coffee": data.coffee()[100:164, 200:264]}


def _net(seed=0, **changes):
    torch.manual_seed(seed)
    return build_generator(dict(ARCH, **changes)).eval()


def _expected_sr(net, lr, **kwargs):
    """What test.py's PyTorch backend computes (channels_last, as test.py sets it)."""
    inference = SRInference(net, net.upscale, device="cpu", channels_last=True, **kwargs)
    return tensor_to_uint8(inference.run(image_to_tensor(lr)))


def test_cpu_default_is_openvino_within_one_level(setup, tmp_path, capsys):
    from rwsr.inference.openvino_backend import cpu_half_precision

    result = run_cli(capsys, "--model", setup.model, "--input", setup.lr, "--output", tmp_path, "--backend", "auto",
                     "--device", "cpu", "--no_progress")
    assert result.returncode == 0, result.stderr
    # with native bf16 the trunk runs in bf16 (tests/test_staged.py), else everything in fp32
    precision = "bf16 trunk + f32, " if cpu_half_precision() == "bf16" else "f32 ("
    assert f"backend: OpenVINO {precision}" in result.stdout and "auto: the fastest available here" in result.stdout
    for name in PHOTOS:
        lr = read_image(os.path.join(setup.lr, f"{name}.png"))
        difference = read_image(str(tmp_path / f"{name}.png")).astype(np.int16) - _expected_sr(setup.net, lr)
        assert np.abs(difference).max() <= 1


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    for name, gt in PHOTOS.items():
        write_image(str(root / "gt" / f"{name}.png"), gt)
        write_image(str(root / "lr" / f"{name}.png"), imresize_uint8(gt, 0.25))
    net = _net()
    save_network(net, str(root / "G.pth"))  # no metadata: the architecture comes from the shapes
    return types.SimpleNamespace(root=root, net=net, model=str(root / "G.pth"), lr=str(root / "lr"),
                                 gt=str(root / "gt"))


def run_cli(capsys, *argv):
    """rwsr.cli.test.main in this process (fast); returns what a subprocess run would.

    The PyTorch backend unless a test picks one, so results compare pixel for pixel with SRInference.
    """
    from rwsr.cli.test import main

    argv = [str(arg) for arg in argv]
    if "--backend" not in argv:
        argv += ["--backend", "torch"]
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=code or 0, stdout=captured.out, stderr=captured.err)


def test_folder_form_writes_results_and_metrics(setup, tmp_path, capsys):
    out = tmp_path / "out"
    result = run_cli(capsys, "--model", setup.model, "--input", setup.lr, "--output", out, "--gt", setup.gt,
                     "--device", "cpu", "--no_lpips")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["astronaut.png", "coffee.png", "metrics.csv", "metrics.json"]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [row["image"] for row in rows] == ["astronaut", "coffee", "mean"]
    document = json.load(open(out / "metrics.json"))
    for name, row, entry in zip(PHOTOS, rows, document["images"]):
        sr = read_image(str(out / f"{name}.png"))
        lr = read_image(os.path.join(setup.lr, f"{name}.png"))
        np.testing.assert_array_equal(sr, _expected_sr(setup.net, lr))  # PNG: lossless, same pixels
        assert sr.shape == (lr.shape[0] * 4, lr.shape[1] * 4, 3)
        assert entry["psnr"] == pytest.approx(calculate_psnr(sr, PHOTOS[name], 4), abs=1e-9)
        assert entry["ssim_y"] == pytest.approx(calculate_ssim(sr, PHOTOS[name], 4, test_y_channel=True), abs=1e-9)
        assert float(row["psnr"]) == pytest.approx(entry["psnr"], abs=1e-5)
        assert entry["lpips"] is None and row["lpips"] == ""
    assert document["lpips"] == "LPIPS skipped: --no_lpips"
    assert document["mean"]["psnr"] == pytest.approx(np.mean([e["psnr"] for e in document["images"]]))
    assert float(rows[-1]["ssim"]) == pytest.approx(document["mean"]["ssim"], abs=1e-6)
    table = result.stdout[result.stdout.index("PSNR_Y"):]
    assert "astronaut" in table and "mean" in table and f"{document['mean']['psnr']:.2f}" in table


def test_single_file_jpg_suffix_tiles_and_ensemble(setup, tmp_path, capsys):
    lr_file = os.path.join(setup.lr, "coffee.png")
    result = run_cli(capsys, "--model", setup.model, "--input", lr_file, "--output", tmp_path, "--ext", "jpg",
                     "--suffix", "_x4", "--tile", "8", "--tile_pad", "4", "--ensemble", "--no_progress")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["coffee_x4.jpg", "metrics.csv", "metrics.json"]  # NIQE without GT
    sr = read_image(str(tmp_path / "coffee_x4.jpg"))
    expected = _expected_sr(setup.net, read_image(lr_file), ensemble=True)
    assert calculate_psnr(sr, expected) > 35  # JPEG q95 of the tiled ensemble result


def test_option_file_form_official_test_file(setup, tmp_path, capsys):
    """The official test_df2k.yml with only paths (and this tiny network's size) changed."""
    results = tmp_path / "results"
    result = run_cli(capsys, "-opt", os.path.join(REPO, "options", "df2k", "test_df2k.yml"), "--set",
                     f"path.pretrain_model_G={setup.model}", f"path.results_root={results}",
                     f"datasets.test_1.dataroot_LR={setup.lr}", "network_G.nf=8", "network_G.nb=1",
                     "--device", "cpu", "--no_progress")
    assert result.returncode == 0, result.stderr
    folder = results / "Test_images" / "DIV2K"
    assert sorted(os.listdir(folder)) == ["astronaut.png", "coffee.png", "metrics.csv", "metrics.json"]  # NIQE
    lr = read_image(os.path.join(setup.lr, "coffee.png"))
    np.testing.assert_array_equal(read_image(str(folder / "coffee.png")), _expected_sr(setup.net, lr))
    assert os.path.isfile(results / "Test_images" / "test.log")
    again = run_cli(capsys, "-opt", os.path.join(REPO, "options", "df2k", "test_df2k.yml"), "--set",
                    f"path.pretrain_model_G={setup.model}", f"path.results_root={results}",
                    f"datasets.test_1.dataroot_LR={setup.lr}", "network_G.nf=8", "network_G.nb=1")
    assert_one_line_error(again, str(folder), "--overwrite", code=2)
    # the file says nf 64: options override the checkpoint, and a mismatch is one line
    wrong = run_cli(capsys, "-opt", os.path.join(REPO, "options", "df2k", "test_df2k.yml"), "--set",
                    f"path.pretrain_model_G={setup.model}", f"path.results_root={tmp_path / 'r2'}",
                    f"datasets.test_1.dataroot_LR={setup.lr}")
    assert_one_line_error(wrong, setup.model, "do not fit", code=1)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_option_file_form_paired_dataset_metrics(setup, tmp_path, capsys):
    """Mode LQGT: metrics per image, LPIPS from the backbone folder of the option file."""
    import torchvision

    backbones = tmp_path / "backbones"
    os.makedirs(backbones)
    torch.manual_seed(0)  # a stand-in for torchvision's AlexNet file: the wiring is tested, not the values
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), backbones / "alexnet-owt-7be5be79.pth")
    options = tmp_path / "test.yml"
    options.write_text(f"""name: paired
scale: 4
datasets:
  test_1:
    name: pairs
    mode: LQGT
    dataroot_GT: {setup.gt}
    dataroot_LQ: {setup.lr}
test:
  tile: 16
  tile_pad: 8
path:
  pretrain_model_G: {setup.model}
  results_root: {tmp_path / 'results'}
  pretrained_backbones: {backbones}
""")
    result = run_cli(capsys, "-opt", options, "--no_progress")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "results" / "paired" / "pairs"
    document = json.load(open(folder / "metrics.json"))
    assert [entry["image"] for entry in document["images"]] == ["astronaut", "coffee"]
    sr = read_image(str(folder / "astronaut.png"))
    assert document["images"][0]["psnr_y"] == pytest.approx(
        calculate_psnr(sr, PHOTOS["astronaut"], 4, test_y_channel=True), abs=1e-9)
    assert document["lpips"] == "LPIPS (AlexNet, v0.1)"
    assert all(entry["lpips"] > 0 for entry in document["images"])
    rows = list(csv.DictReader(open(folder / "metrics.csv")))
    assert float(rows[-1]["lpips"]) == pytest.approx(document["mean"]["lpips"], abs=1e-6)


def test_ema_weights_are_preferred(setup, tmp_path, capsys):
    models = tmp_path / "models"
    save_network(setup.net, str(models / "100_G.pth"))
    ema = _net(seed=1)
    save_network(ema, str(models / "100_G_ema.pth"))
    lr = read_image(os.path.join(setup.lr, "coffee.png"))
    for extra, net in (([], ema), (["--no_ema"], setup.net)):
        out = tmp_path / f"out{len(extra)}"
        result = run_cli(capsys, "--model", models / "100_G.pth", "--input", os.path.join(setup.lr, "coffee.png"),
                         "--output", out, "--no_progress", *extra)
        assert result.returncode == 0, result.stderr
        np.testing.assert_array_equal(read_image(str(out / "coffee.png")), _expected_sr(net, lr))


def test_small_image_is_padded_and_cropped(setup, tmp_path, capsys):
    tiny = tmp_path / "tiny"
    write_image(str(tiny / "dot.png"), data.chelsea()[50:53, 60:65])
    result = run_cli(capsys, "--model", setup.model, "--input", tiny, "--output", tmp_path / "o", "--no_progress")
    assert result.returncode == 0, result.stderr
    assert read_image(str(tmp_path / "o" / "dot.png")).shape == (12, 20, 3)


def test_unreadable_images_are_skipped_and_fail_at_the_end(setup, tmp_path, capsys):
    inputs = tmp_path / "in"
    shutil.copytree(setup.lr, inputs)
    good = open(inputs / "coffee.png", "rb").read()
    (inputs / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    (inputs / "notes.jpg").write_text("not an image")
    result = run_cli(capsys, "--model", setup.model, "--input", inputs, "--output", tmp_path / "o", "--no_progress")
    assert_one_line_error(result, "2 of 4", code=1)
    assert "broken.png" in result.stderr and "notes.jpg" in result.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["astronaut.png", "coffee.png", "metrics.csv", "metrics.json"]


def test_existing_results_need_overwrite(setup, tmp_path, capsys):
    out = tmp_path / "out"
    write_image(str(out / "coffee.png"), np.zeros((4, 4, 3), np.uint8))
    before = open(out / "coffee.png", "rb").read()
    result = run_cli(capsys, "--model", setup.model, "--input", setup.lr, "--output", out)
    assert_one_line_error(result, "coffee.png", "--overwrite", code=2)
    assert open(out / "coffee.png", "rb").read() == before and not os.path.exists(out / "astronaut.png")
    result = run_cli(capsys, "--model", setup.model, "--input", setup.lr, "--output", out, "--overwrite",
                     "--no_progress")
    assert result.returncode == 0 and read_image(str(out / "coffee.png")).shape == (64, 64, 3)


@pytest.mark.parametrize("case", ["same_folder", "empty", "missing_model", "not_a_checkpoint", "wrong_scale",
                                  "discriminator", "missing_gt", "no_output", "missing_input",
                                  "output_is_file", "same_stem"])
def test_bad_input_is_one_line(setup, tmp_path, capsys, case):
    args = ["--model", setup.model, "--input", setup.lr, "--output", tmp_path / "out"]
    fragments, code = (), 2
    if case == "same_folder":
        args[5], fragments = setup.lr, ("input folder",)
    elif case == "empty":
        os.makedirs(tmp_path / "empty")
        args[3], fragments = tmp_path / "empty", ("no images found",)
    elif case == "missing_model":
        args[1], fragments = tmp_path / "nope.pth", ("nope.pth", "not found")
    elif case == "not_a_checkpoint":
        (tmp_path / "junk.pth").write_bytes(b"\x00garbage" * 50)
        args[1], fragments, code = tmp_path / "junk.pth", ("junk.pth",), 1
    elif case == "wrong_scale":
        args += ["--scale", "2"]
        fragments, code = ("do not fit", "upconv2"), 1
    elif case == "discriminator":
        from rwsr.archs import build_discriminator
        save_network(build_discriminator({"which_model_D": "NLayerDiscriminator", "nf": 8}), str(tmp_path / "D.pth"))
        args[1], fragments, code = tmp_path / "D.pth", ("not a generator this project or spandrel",), 1
    elif case == "missing_gt":
        os.makedirs(tmp_path / "gt")
        shutil.copy(os.path.join(setup.gt, "coffee.png"), tmp_path / "gt")
        args += ["--gt", tmp_path / "gt"]
        fragments = ("astronaut.png", "no GT")
    elif case == "no_output":
        args, fragments = args[:4], ("--output",)
    elif case == "missing_input":
        args[3], fragments = tmp_path / "nowhere", ("nowhere", "does not exist")
    elif case == "output_is_file":
        (tmp_path / "file").write_text("x")
        args[5], fragments = tmp_path / "file", ("not a folder",)
    elif case == "same_stem":
        shutil.copytree(setup.lr, tmp_path / "lr")
        shutil.copy(os.path.join(setup.lr, "coffee.png"), tmp_path / "lr" / "coffee.jpg")
        args[3], fragments = tmp_path / "lr", ("coffee.jpg", "coffee.png", "share the name")
    assert_one_line_error(run_cli(capsys, *args), *fragments, code=code)
    assert not os.path.exists(tmp_path / "out")


def test_entry_script_runs_without_traceback(setup, tmp_path):
    result = run_script("codes/test.py", "--model", setup.model, "--input", setup.lr, "--output", tmp_path / "o",
                        "--gt", setup.gt, "--no_lpips")
    assert result.returncode == 0, result.stderr
    assert "img" in result.stderr and "s/img" in result.stderr  # progress bar with the per-image time
    broken = run_script("codes/test.py", "--model", setup.model, "--input", tmp_path / "nowhere", "--output",
                        tmp_path / "o2")
    assert_one_line_error(broken, "nowhere", code=2)


def test_option_file_bad_input_is_one_line(setup, tmp_path, capsys):
    official = os.path.join(REPO, "options", "df2k", "test_df2k.yml")
    os.makedirs(tmp_path / "empty")
    cases = [
        (["--set", "path.pretrain_model_G=~", f"datasets.test_1.dataroot_LR={setup.lr}"],
         ("path.pretrain_model_G", "required"), 2),
        (["--set", f"path.pretrain_model_G={tmp_path / 'no.pth'}", f"datasets.test_1.dataroot_LR={setup.lr}"],
         ("path.pretrain_model_G", "does not exist"), 2),
        (["--set", f"path.pretrain_model_G={setup.model}", f"datasets.test_1.dataroot_LR={tmp_path / 'empty'}",
          f"path.results_root={tmp_path / 'r'}"], ("no images",), 2),
        (["--set", f"path.pretrain_model_G={setup.model}", f"datasets.test_1.dataroot_LR={setup.lr}",
          "datasets.test_1.color=Y", f"path.results_root={tmp_path / 'r'}"], ("color",), 2),
        (["--set", f"path.pretrain_model_G={setup.model}", "datasets.test_1.dataroot_LR=" + setup.lr,
          "network_G.nf=8", "network_G.nb=1", "test.tile=-1", f"path.results_root={tmp_path / 'r'}"],
         ("tile", "negative"), 2),
        (["--input", setup.lr], ("-opt", "--input"), 2),
    ]
    for extra, fragments, code in cases:
        assert_one_line_error(run_cli(capsys, "-opt", official, *extra), *fragments, code=code)
