import glob
import os

import pytest
import yaml

from conftest import REPO, assert_one_line_error, run_script
from rwsr.options import load_options, validate
from rwsr.options.doc import option_reference
from rwsr.utils.errors import OptionError

OPTION_FILES = sorted(glob.glob(os.path.join(REPO, "options", "**", "*.yml"), recursive=True))


def phase_of(path):
    return "test" if os.path.basename(path).startswith("test") else "train"


def write_yaml(tmp_path, data, name="opt.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def minimal_train(**overrides):
    data = {"name": "unit", "model": "srgan", "scale": 4,
            "datasets": {"train": {"mode": "LQGT", "dataroot_GT": "hr", "dataroot_LQ": "lr"}},
            "train": {"niter": 10}}
    data.update(overrides)
    return data


@pytest.mark.parametrize("path", OPTION_FILES, ids=lambda p: os.path.relpath(p, REPO))
def test_shipped_option_files_validate(path):
    opt = load_options(path, phase=phase_of(path))
    assert opt["name"]
    assert opt["network_G"]["upscale"] == opt["scale"]


def test_official_files_are_shipped():
    names = {os.path.basename(p) for p in OPTION_FILES}
    assert {"train_ntire.yml", "train_aim.yml", "test_df2k.yml"} <= names


def test_official_values_are_typed():
    opt = load_options(os.path.join(REPO, "options/df2k/train_ntire.yml"))
    assert opt["train"]["val_freq"] == 2500 and isinstance(opt["train"]["val_freq"], int)
    assert opt["logger"]["save_checkpoint_freq"] == 2500
    assert opt["train"]["lr_G"] == pytest.approx(1e-4)
    assert opt["train"]["cr_weight"] == pytest.approx(1e-3)
    assert opt["train"]["lr_steps"] == [10000, 30000, 50000, 80000, 120000]
    assert opt["datasets"]["train"]["batch_size"] == 16
    # defaults filled in
    assert opt["network_G"]["gc"] == 32
    assert opt["train"]["exclusion_weight"] == 0.0
    assert opt["crop_border"] == 4


def test_unknown_key_suggests_closest(tmp_path):
    data = minimal_train()
    data["train"]["pixel_weigth"] = 1
    with pytest.raises(OptionError) as err:
        validate(data)
    assert str(err.value) == "train.pixel_weigth: unknown option; did you mean train.pixel_weight?"


def test_unknown_nested_dataset_key(tmp_path):
    data = minimal_train()
    data["datasets"]["train"]["GT_szie"] = 128
    with pytest.raises(OptionError, match=r"datasets\.train\.GT_szie: unknown option; did you mean datasets\.train\.GT_size\?"):
        validate(data)


def test_unknown_top_level_key():
    with pytest.raises(OptionError, match=r"^netwrok_G: unknown option; did you mean network_G\?"):
        validate(dict(minimal_train(), netwrok_G={}))


def test_wrong_type_names_key_expected_and_actual():
    data = minimal_train()
    data["train"]["niter"] = "many"
    with pytest.raises(OptionError, match=r"train\.niter: expected int, got str"):
        validate(data)
    data["train"]["niter"] = 10.5
    with pytest.raises(OptionError, match=r"train\.niter: expected int, got float"):
        validate(data)
    data["train"]["niter"] = 10
    data["use_tb_logger"] = "yes please"
    with pytest.raises(OptionError, match=r"use_tb_logger: expected bool, got str"):
        validate(data)


def test_bad_choice_lists_valid_values():
    data = minimal_train()
    data["network_G"] = {"which_model_G": "SwinIR"}
    with pytest.raises(OptionError, match=r"network_G\.which_model_G: 'SwinIR' is not one of RRDBNet, RRDB"):
        validate(data)


def test_missing_required_key():
    data = minimal_train()
    del data["train"]["niter"]
    with pytest.raises(OptionError, match=r"^train\.niter: required option is missing$"):
        validate(data)
    data = minimal_train()
    del data["name"]
    with pytest.raises(OptionError, match=r"^name: required option is missing$"):
        validate(data)


def test_yaml_float_without_dot_is_accepted():
    data = minimal_train()
    data["train"]["lr_G"] = "2e-4"  # how YAML 1.1 reads an unquoted 2e-4
    assert validate(data)["train"]["lr_G"] == pytest.approx(2e-4)


def test_edl_is_an_alias_of_srgan():
    assert validate(minimal_train(model="edl"))["model"] == "srgan"


def test_option_reference_lists_every_section():
    text = option_reference()
    for key in ("train.pixel_weight", "datasets.<name>.GT_size", "network_G.global_residual", "path.pretrained_backbones"):
        assert f"`{key}`" in text


def test_cli_unknown_key_one_line_exit_2(tmp_path):
    data = minimal_train()
    data["train"]["pixel_weigth"] = 1
    result = run_script("codes/train.py", "-opt", write_yaml(tmp_path, data), "--dry_run")
    assert_one_line_error(result, "train.pixel_weigth: unknown option; did you mean train.pixel_weight?", code=2)


def test_cli_invalid_yaml_names_file_line_column(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("name: x\ntrain:\n  niter: [1, 2\n  lr_G: 1\n")
    result = run_script("codes/train.py", "-opt", str(path), "--dry_run")
    assert_one_line_error(result, str(path), "invalid YAML", code=2)
    assert ":4:" in result.stderr or ":3:" in result.stderr


def test_cli_missing_required_and_wrong_type(tmp_path):
    data = minimal_train()
    del data["train"]["niter"]
    result = run_script("codes/train.py", "-opt", write_yaml(tmp_path, data), "--dry_run")
    assert_one_line_error(result, "train.niter: required option is missing", code=2)
    result = run_script("codes/train.py", "-opt", write_yaml(tmp_path, minimal_train()), "--dry_run",
                        "--set", "train.niter=abc")
    assert_one_line_error(result, "train.niter: expected int, got str", code=2)


def test_cli_set_overrides_are_typed(tmp_path):
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    path = write_yaml(tmp_path, minimal_train())
    opt = load_options(path, ["train.niter=100", "datasets.train.batch_size=4", "train.lr_G=2e-4",
                              "use_tb_logger=true", "train.lr_steps=[10, 20]"])
    assert opt["train"]["niter"] == 100
    assert opt["datasets"]["train"]["batch_size"] == 4
    assert opt["train"]["lr_G"] == pytest.approx(2e-4)
    assert opt["use_tb_logger"] is True
    assert opt["train"]["lr_steps"] == [10, 20]
    with pytest.raises(OptionError, match=r"train\.nitre: unknown option; did you mean train\.niter\?"):
        load_options(path, ["train.nitre=5"])


def test_dry_run_checks_input_paths(tmp_path):
    data = minimal_train()
    data["datasets"]["train"]["dataroot_GT"] = str(tmp_path / "hr")
    data["datasets"]["train"]["dataroot_LQ"] = str(tmp_path / "missing_lr")
    (tmp_path / "hr").mkdir()
    path = write_yaml(tmp_path, data)
    result = run_script("codes/train.py", "-opt", path, "--dry_run")
    assert_one_line_error(result, "datasets.train.dataroot_LQ", "missing_lr", code=2)
    (tmp_path / "missing_lr").mkdir()
    from skimage import data
    from rwsr.utils.image_io import write_image
    hr = data.astronaut()[:128, :128]
    write_image(str(tmp_path / "hr" / "a.png"), hr)
    write_image(str(tmp_path / "missing_lr" / "a.png"), hr[::4, ::4])
    result = run_script("codes/train.py", "-opt", path, "--dry_run", "--set", "datasets.train.GT_size=64",
                        "datasets.train.batch_size=1", "datasets.train.n_workers=0", "network_G.nb=1",
                        "network_G.nf=8", "train.feature_pretrained=false")
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(os.path.join(REPO, "experiments", "unit"))


def with_datasets(**datasets):
    """minimal_train with these dataset sections added (a section of None removes that dataset)."""
    data = minimal_train()
    data["datasets"].update(datasets)
    data["datasets"] = {name: ds for name, ds in data["datasets"].items() if ds is not None}
    return data


def test_training_needs_a_training_set():
    with pytest.raises(OptionError, match=r"^datasets\.train: required training dataset is missing$"):
        validate(with_datasets(train=None, val={"dataroot_GT": "hr"}))
    with pytest.raises(OptionError, match=r"^datasets\.eval: dataset names must start with train, val or test$"):
        validate(with_datasets(eval={"dataroot_GT": "hr"}))


def test_gt_size_is_checked_on_training_sets_only():
    with pytest.raises(OptionError, match=r"^datasets\.train_2\.GT_size: 130 is not a multiple of scale 4$"):
        validate(with_datasets(train_2={"dataroot_GT": "hr", "GT_size": 130}))
    assert validate(with_datasets(val_1={"dataroot_GT": "hr", "GT_size": 130}))["datasets"]["val_1"]["GT_size"] == 130


def test_noise_injection_needs_noise_patches_on_training_sets_only():
    with pytest.raises(OptionError, match=r"^datasets\.train\.noise_data: required when aug is noise$"):
        validate(with_datasets(train={"dataroot_GT": "hr", "aug": "noise"}))
    opt = validate(with_datasets(train={"dataroot_GT": "hr", "aug": "noise", "noise_data": "patches"},
                                 test_1={"mode": "LR", "dataroot_LR": "lr", "aug": "noise"}))
    assert opt["datasets"]["train"]["noise_data"] == "patches" and opt["datasets"]["test_1"]["aug"] == "noise"


def test_paired_sets_need_hr_and_validation_sets_must_be_paired():
    with pytest.raises(OptionError, match=r"^datasets\.val\.dataroot_GT: required for mode LQGT$"):
        validate(with_datasets(val={"dataroot_LQ": "lr"}))
    with pytest.raises(OptionError, match=r"^datasets\.val_x\.mode: validation compares with GT; use mode LQGT$"):
        validate(with_datasets(val_x={"mode": "LR", "dataroot_LR": "lr"}))
    # an LR-only test set in a training file needs no HR folder
    opt = validate(with_datasets(test_1={"mode": "LR", "dataroot_LR": "lr"}))
    assert opt["datasets"]["test_1"]["dataroot_GT"] is None


def test_best_dataset_names_one_of_the_validation_sets():
    sets = {"val_1": {"dataroot_GT": "a"}, "val_2": {"dataroot_GT": "b"}, "test_1": {"mode": "LR", "dataroot_LR": "c"}}
    data = with_datasets(**sets)
    data["val"] = {"best_dataset": "val_2"}
    assert validate(data)["val"]["best_dataset"] == "val_2"
    for other in ("train", "test_1"):
        data["val"] = {"best_dataset": other}
        with pytest.raises(OptionError, match=rf"^val\.best_dataset: {other} is not a validation set "
                                              r"\(datasets: val_1, val_2\)$"):
            validate(data)


def test_list_options_take_a_single_value_and_reject_null_items():
    data = minimal_train()
    data["train"]["lr_steps"] = 5000
    assert validate(data)["train"]["lr_steps"] == [5000]
    data["train"]["lr_steps"] = ["1e3", 2000.0]  # YAML 1.1 reads 1e3 as a string
    assert validate(data)["train"]["lr_steps"] == [1000, 2000]
    data["train"]["lr_steps"] = [1000, None]
    with pytest.raises(OptionError, match=r"^train\.lr_steps\[1\]: expected int, got null \(None\)$"):
        validate(data)
    data["train"]["lr_steps"] = [1000, 2500.5]
    with pytest.raises(OptionError, match=r"^train\.lr_steps\[1\]: expected int, got float 2500\.5$"):
        validate(data)


def test_int_written_in_exponent_form_is_an_int():
    data = minimal_train()
    data["train"]["niter"] = "5e3"  # how YAML 1.1 reads an unquoted 5e3
    niter = validate(data)["train"]["niter"]
    assert niter == 5000 and isinstance(niter, int)


def test_sections_given_are_checked_whole_and_absent_ones_defaulted():
    # test phase: no train section is fine, its required keys resolve to null
    test_opt = validate({"name": "t", "datasets": {"test_1": {"mode": "LR", "dataroot_LR": "lr"}}}, phase="test")
    assert test_opt["train"]["niter"] is None and test_opt["train"]["lr_G"] == pytest.approx(1e-4)
    # a train section that is present must be complete, in any phase
    with pytest.raises(OptionError, match=r"^train\.niter: required option is missing$"):
        validate({"name": "t", "train": {"lr_G": 1e-4}}, phase="test")
    # training needs the train section even when the file leaves it out
    data = minimal_train()
    del data["train"]
    with pytest.raises(OptionError, match=r"^train\.niter: required option is missing$"):
        validate(data)


def test_align_weight_defaults_per_model():
    assert validate(minimal_train(model="sr"))["train"]["align_weight"] == 0.0
    assert validate(minimal_train(model="srgan"))["train"]["align_weight"] == 0.0
    data = minimal_train(model="srgan_al")
    data["train"].update(pixel_weight=1.0, feature_weight=1.0, gan_weight=1.0)
    assert validate(data)["train"]["align_weight"] == pytest.approx(0.01)


def test_best_mode_follows_the_metric_unless_given():
    def best_mode(**val):
        data = minimal_train()
        data["val"] = val
        return validate(data)["val"]["best_mode"]
    assert best_mode(best_metric="lpips") == "min"
    assert best_mode(best_metric="psnr") == "max" and best_mode(best_metric="ssim_y") == "max"
    assert best_mode(best_metric="lpips", best_mode="max") == "max"
    assert best_mode(best_metric="psnr", best_mode="min") == "min"
