"""Training with `mode: GT` (LR made on the training device by the second-order degradations):
option keys where Real-ESRGAN puts them, option errors, every model trains, exact resume."""
import copy
import os

import pytest

from conftest import REPO, assert_one_line_error
from rwsr.options import load_options
from rwsr.options.loader import validate
from rwsr.utils.errors import OptionError
from test_train_engine import run_train
from train_helpers import assert_same_weights, make_data, read_weights, tiny_options, write_options

# Real-ESRGAN's top-level degradation block (values of its train_realesrnet_x4plus.yml).
TOP_LEVEL = {"gt_usm": True, "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
             "noise_range": [1, 30], "poisson_scale_range": [0.05, 3], "gray_noise_prob": 0.4, "jpeg_range": [30, 95],
             "second_blur_prob": 0.8, "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2],
             "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5],
             "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95], "gt_size": 32, "queue_size": 4}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp("data")))


def gt_options(root, data, name="gt", **sections):
    """Tiny EDL run on HR crops of 40 (degraded, then cropped to 32), noise patches after the degradation."""
    opt = tiny_options(root, data, name=name, **sections)
    train = opt["datasets"]["train"]
    train.update(mode="GT", GT_size=40, blur_kernel_size=11, blur_kernel_size2=11)
    del train["dataroot_LQ"]
    del opt["datasets"]["val"]
    opt.update(copy.deepcopy(TOP_LEVEL))
    return opt


def test_real_esrgan_keys_are_read_where_its_option_files_put_them(tmp_path, data):
    opt = validate(gt_options(str(tmp_path), data))
    assert opt["degradation"]["resize_prob2"] == [0.3, 0.4, 0.3] and opt["degradation"]["queue_size"] == 4
    assert opt["datasets"]["train"]["blur_kernel_size"] == 11 and opt["datasets"]["train"]["final_sinc_prob"] == 0.8
    assert "resize_prob" not in opt
    shipped = load_options(os.path.join(REPO, "options", "df2k", "train_realesrgan_edl.yml"))
    assert shipped["degradation"]["queue_size"] == 180 and shipped["degradation"]["jpeg_range2"] == [30, 95]
    assert shipped["datasets"]["train"]["kernel_prob2"] == [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    demo = load_options(os.path.join(REPO, "options", "demo", "train_demo_realesrgan.yml"))
    assert demo["degradation"]["gt_size"] == 64 and demo["datasets"]["train"]["aug"] == "noise"


@pytest.mark.parametrize("change, message", [
    ({"resize_prb": [0.2, 0.7, 0.1]}, r"^resize_prb: unknown option; did you mean resize_prob\?"),
    ({"degradation": {"noise_range": [1, 5]}}, r"^noise_range: given at the top level and as degradation\.noise_range"),
    ({"jpeg_range": [20, 101]}, r"^degradation\.jpeg_range: \[20\.0, 101\.0\] leaves the range \[1, 100\]"),
    ({"jpeg_range2": [90, 30]}, r"^degradation\.jpeg_range2: expected \[min, max\] with min <= max"),
    ({"resize_prob": [0.5, 0.5]}, r"^degradation\.resize_prob: 2 probabilities for 3 resize kinds"),
    ({"resize_range": [0.5, 0.9]}, r"^degradation\.resize_range: .* must enclose 1"),
    ({"gray_noise_prob2": 1.5}, r"^degradation\.gray_noise_prob2: 1\.5 is not a probability"),
    ({"queue_size": -2}, r"^degradation\.queue_size: -2 must be 0"),
    ({"gt_size": 30}, r"^degradation\.gt_size: 30 must be a positive multiple of scale 4 and at most"),
    ({"gt_size": 48}, r"^degradation\.gt_size: 48 .* at most datasets\.train\.GT_size \(40\)"),
    ({"datasets.train.kernel_prob": [0.5, 0.5]}, r"^datasets\.train\.kernel_prob: 2 probabilities for 6 kernel"),
    ({"datasets.train.kernel_list2": ["iso", "gaussian"]},
     r"^datasets\.train\.kernel_list2: 'gaussian' is not one of iso, aniso"),
    ({"datasets.train.blur_kernel_size": 20}, r"^datasets\.train\.blur_kernel_size: 20 must be odd and at least 7"),
    ({"datasets.train.betag_range": [1.5, 4]}, r"^datasets\.train\.betag_range: .* must enclose 1"),
    ({"datasets.train.sinc_prob2": -0.1}, r"^datasets\.train\.sinc_prob2: -0\.1 is not a probability"),
    ({"datasets.train.blur_sigma": [0, 3]}, r"^datasets\.train\.blur_sigma: sigmas must be positive"),
    ({"datasets.train.color": "Y"}, r"^datasets\.train\.color: mode GT degrades RGB images"),
    ({"datasets.train.dataroot_LQ": "lr"}, r"^datasets\.train\.dataroot_LQ: mode GT makes the LR on the fly"),
    ({"datasets.test_1": {"mode": "GT", "dataroot_GT": "x"}}, r"^datasets\.test_1\.mode: GT .* for training sets"),
])
def test_bad_degradation_options_are_one_line_errors(tmp_path, data, change, message):
    opt = gt_options(str(tmp_path), data)
    for key, value in change.items():
        if key.startswith("datasets.train."):
            opt["datasets"]["train"][key.split(".")[-1]] = value
        elif key.startswith("datasets."):
            opt["datasets"][key.split(".")[-1]] = value
        else:
            opt[key] = value
    with pytest.raises(OptionError, match=message):
        validate(opt)


def test_queue_size_must_hold_whole_batches(tmp_path, data, capsys):
    opt = gt_options(str(tmp_path), data, niter=1)
    opt["queue_size"] = 5
    result = run_train("-opt", write_options(str(tmp_path / "q.yml"), opt), capsys=capsys)
    assert_one_line_error(result, "degradation.queue_size: 5 is not a multiple of the batch per process (2)", code=2)


@pytest.mark.parametrize("model", ["sr", "srgan_al", "srgan_an", "srgan_r"])
def test_every_model_trains_on_degraded_batches(tmp_path, data, model, capsys):
    opt = gt_options(str(tmp_path), data, name=model, model=model, niter=2,
                     train={"feature_layer": "conv2_2", "gan_type": "ragan"}, logger={"save_checkpoint_freq": 2})
    assert run_train("-opt", write_options(str(tmp_path / f"{model}.yml"), opt), capsys=capsys).returncode == 0
    assert read_weights(opt, 2)


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(tmp_path, data, capsys):
    """The queue fills in 2 iterations and swaps from the third; the checkpoint at 3 holds a full queue,
    the degradation's generators and the noise pool's; iterations 4-6 cross an epoch boundary."""
    sections = dict(niter=6, train={"feature_layer": "conv2_2", "ema_decay": 0.9},
                    logger={"save_checkpoint_freq": 3, "print_freq": 3})
    whole = gt_options(str(tmp_path), data, name="whole", **sections)
    assert run_train("-opt", write_options(str(tmp_path / "whole.yml"), whole), capsys=capsys).returncode == 0
    parts = gt_options(str(tmp_path), data, name="parts", **sections)
    path = write_options(str(tmp_path / "parts.yml"), parts)
    assert run_train("-opt", path, "--set", "train.niter=3", capsys=capsys).returncode == 0
    resumed = run_train("-opt", path, "--auto_resume", capsys=capsys)
    assert resumed.returncode == 0 and "resumed from" in resumed.stdout + resumed.stderr
    for net in ("G", "D", "G_ema"):
        assert_same_weights(read_weights(whole, 6, net), read_weights(parts, 6, net))


def test_degradation_arms_differ_from_the_paired_arm_only_in_the_training_data():
    from rwsr.demo import ablation
    paired = load_options(os.path.join(REPO, "options", "ablation", "edl_srgan.yml"))
    assert [arm.key for arm in ablation.STUDIES["degradations"].arms] == [
        "edl_srgan", "edl_degradations", "edl_degradations_noise"]
    for key, noise in (("edl_degradations", False), ("edl_degradations_noise", True)):
        opt = load_options(os.path.join(REPO, "options", "ablation", f"{key}.yml"))
        train, paired_train = opt["datasets"]["train"], paired["datasets"]["train"]
        assert train["mode"] == "GT" and (train["aug"] == "noise") is noise
        assert opt["degradation"]["gt_size"] == paired_train["GT_size"]  # the networks see the same crops
        for section in ("network_G", "network_D", "path", "train", "logger"):
            assert opt[section] == paired[section], section
        same = ("batch_size", "use_flip", "use_rot", "dataroot_GT", "n_workers")
        assert {k: train[k] for k in same} == {k: paired_train[k] for k in same}


def test_degradation_study_takes_only_its_own_arms():
    from rwsr.demo import ablation
    from rwsr.utils.errors import RwsrError
    settings = ablation.AblationSettings(study="degradations", arms=("esrgan",))
    with pytest.raises(RwsrError, match="--arms esrgan: unknown arm; valid: edl_srgan, edl_degradations, "
                                        "edl_degradations_noise"):
        ablation.check_settings(settings)
    chosen = ablation.AblationSettings(study="degradations", arms=("edl_degradations_noise", "edl_srgan"))
    assert [arm.key for arm in ablation.study_arms(chosen)] == ["edl_srgan", "edl_degradations_noise"]
