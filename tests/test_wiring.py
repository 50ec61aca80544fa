"""Wiring that a wrong line would break without a crash: what checkpoints hold and prune, which
option changes a resume refuses or reports, how seeds reach every generator, and how option
files and overrides are read."""
import os
import random

import numpy as np
import pytest
import torch
import yaml

from arch_helpers import captured_project_log, tiny_generator
from rwsr.archs import build_discriminator
from rwsr.archs.network_files import infer_generator_options, read_checkpoint
from rwsr.engine.checkpoints import CheckpointWriter, generator_metadata, list_state_iterations, read_bundle
from rwsr.engine.resume import (changed_training_keys, check_compatible, check_networks_present, read_resume_bundle,
                               resolve_seed)
from rwsr.engine.rng import seed_everything
from rwsr.options import dump_options, load_options, validate
from rwsr.options.loader import apply_overrides, network_overrides, parse_override, read_yaml
from rwsr.runtime import cpu_runtime
from rwsr.utils.errors import OptionError, RwsrError
from rwsr.utils.logger import get_logger


def options(**sections):
    raw = {"name": "wiring", "model": "srgan", "scale": 4,
           "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 2, "GT_size": 32}},
           "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
           "train": {"niter": 10}}
    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    return validate(raw)


# ---------------------------------------------------------------- checkpoints
def writer(tmp_path, **logger):
    opt = options(logger=logger)
    return CheckpointWriter({"models": str(tmp_path / "models"), "training_state": str(tmp_path / "state")}, opt), opt


def networks():
    torch.manual_seed(0)
    return {"G": tiny_generator(), "D": build_discriminator({"which_model_D": "NLayerDiscriminator", "nf": 4}),
            "G_ema": tiny_generator()}


def test_generator_files_carry_the_network_options_and_d_files_are_plain(tmp_path):
    save, opt = writer(tmp_path, save_format="safetensors", keep_last=0)
    save.save(3, networks(), {"epoch": 0})
    models = sorted(os.listdir(tmp_path / "models"))
    assert models == ["3_D.pth", "3_G.safetensors", "3_G_ema.safetensors"]
    expected = {key: value for key, value in opt["network_G"].items() if value is not None}
    expected["scale"] = 4
    assert generator_metadata(opt) == expected and "global_residual" in expected
    for name in ("3_G.safetensors", "3_G_ema.safetensors"):
        assert read_checkpoint(str(tmp_path / "models" / name))[1] == expected
    assert read_checkpoint(str(tmp_path / "models" / "3_D.pth"))[1] == {}
    best = save.save_generator(networks()["G"], "best_G")
    assert best == str(tmp_path / "models" / "best_G.safetensors") and read_checkpoint(best)[1] == expected


def test_keep_last_keeps_exactly_the_newest_states_and_every_snapshot(tmp_path):
    save, _ = writer(tmp_path, keep_last=2)
    for iteration in (2, 4):
        save.save(iteration, networks(), {"epoch": 0})
    assert list_state_iterations(str(tmp_path / "state")) == [2, 4]  # as many as kept: none removed
    save.save(6, networks(), {"epoch": 0})
    assert list_state_iterations(str(tmp_path / "state")) == [4, 6]
    # network snapshots are pruned only when keep_last_models asks (GAN users choose among them by eye)
    assert sorted(os.listdir(tmp_path / "models")) == sorted(f"{it}_{net}.pth" for it in (2, 4, 6)
                                                             for net in ("G", "D", "G_ema"))
    one, _ = writer(tmp_path / "one", keep_last=1)
    for iteration in (1, 2):
        one.save(iteration, networks(), {"epoch": 0})
    assert list_state_iterations(str(tmp_path / "one" / "state")) == [2]


def test_keep_last_models_prunes_snapshots_but_never_those_of_a_kept_state(tmp_path):
    save, _ = writer(tmp_path, keep_last=3, keep_last_models=1)
    for iteration in (2, 4, 6, 8):
        save.save(iteration, networks(), {"epoch": 0})
    assert list_state_iterations(str(tmp_path / "state")) == [4, 6, 8]
    assert sorted(os.listdir(tmp_path / "models")) == sorted(f"{it}_{net}.pth" for it in (4, 6, 8)
                                                             for net in ("G", "D", "G_ema"))
    save.save_generator(networks()["G"], "best_G")
    few, _ = writer(tmp_path / "few", keep_last=1, keep_last_models=2)
    for iteration in (1, 2, 3):
        few.save(iteration, networks(), {"epoch": 0})
    few.save_generator(networks()["G"], "best_G")
    few.save(4, networks(), {"epoch": 0})
    assert list_state_iterations(str(tmp_path / "few" / "state")) == [4]
    assert sorted(os.listdir(tmp_path / "few" / "models")) == sorted(
        ["best_G.pth"] + [f"{it}_{net}.pth" for it in (3, 4) for net in ("G", "D", "G_ema")])


def test_a_dict_that_is_not_a_training_state_is_refused(tmp_path):
    path = tmp_path / "other.state"
    torch.save({"format": "something else", "version": 1}, path)
    with pytest.raises(RwsrError, match="not a training state written by this project"):
        read_bundle(str(path))


# ---------------------------------------------------------------- resume checks
def saved_state(opt):
    return {"options": dump_options(opt), "seed": 17}


def test_a_sr_run_resumes_whatever_the_discriminator_options_say():
    sr = options(model="sr", train={"pixel_weight": 1.0})
    other_d = options(model="sr", train={"pixel_weight": 1.0}, network_D={"nf": 16})
    check_compatible(saved_state(sr), other_d, "x.state")
    gan, gan_other_d = options(), options(network_D={"nf": 16})
    with pytest.raises(RwsrError, match=r"^network_D\.nf: x\.state was saved with 8, the options say 16"):
        check_compatible(saved_state(gan), gan_other_d, "x.state")
    check_compatible(saved_state(gan), options(network_D={"sync_bn": True}), "x.state")  # free to change


def test_a_network_key_missing_from_the_saved_options_is_a_difference():
    opt = options()
    state = saved_state(opt)
    saved = yaml.safe_load(state["options"])
    del saved["network_G"]["global_residual"]
    state["options"] = yaml.safe_dump(saved)
    with pytest.raises(RwsrError, match=r"^network_G\.global_residual"):
        check_compatible(state, opt, "x.state")


def test_changed_training_keys_lists_every_changed_train_logger_and_dataset_key():
    before = options()
    after = options(train={"niter": 20, "lr_G": 5e-5}, logger={"print_freq": 7},
                    datasets={"train": {"dataroot_GT": "unused", "batch_size": 4, "GT_size": 32}})
    assert changed_training_keys(saved_state(before), after) == [
        "train.lr_G", "train.niter", "logger.print_freq", "datasets.train.batch_size"]
    assert changed_training_keys(saved_state(before), before) == []
    assert changed_training_keys({}, before)[:2] == ["train.D_init_iters", "train.D_update_ratio"]
    assert "datasets.train.batch_size" in changed_training_keys({}, before)  # keys the saved run lacks count


def test_the_seed_comes_from_the_resumed_state_then_manual_seed_then_at_random():
    opt = options(train={"manual_seed": 5})
    assert resolve_seed(opt, {"state": {"seed": 17}}, cpu_runtime()) == 17 and opt["train"]["manual_seed"] == 17
    opt = options(train={"manual_seed": 5})
    assert resolve_seed(opt, None, cpu_runtime()) == 5
    opt = options()
    random.seed(0)
    seed = resolve_seed(opt, None, cpu_runtime())
    random.seed(0)
    assert seed == random.randint(1, 10000) and opt["train"]["manual_seed"] == seed


def test_auto_resume_without_a_state_starts_from_scratch(tmp_path):
    opt = options(path={"experiments_root": str(tmp_path)})
    with captured_project_log() as log:
        assert read_resume_bundle(opt, True, get_logger()) is None
    assert "no readable training state" in log.text()
    assert read_resume_bundle(opt, False, get_logger()) is None


def test_seed_everything_seeds_python_numpy_and_torch():
    seed = 2 ** 32 + 7  # numpy takes the seed modulo 2^32
    seed_everything(seed)
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    assert drawn[0] == random.Random(seed).random()
    assert drawn[1] == np.random.RandomState(7).rand()
    torch.manual_seed(seed)
    assert drawn[2] == torch.rand(1).item()


# ---------------------------------------------------------------- network files
def test_metadata_with_only_scale_gives_the_upscale():
    state = tiny_generator(upscale=2).state_dict()
    assert infer_generator_options(state, {"scale": 2})["upscale"] == 2
    assert infer_generator_options(state, {"scale": 2, "upscale": 2})["upscale"] == 2


# ---------------------------------------------------------------- option files and overrides
def test_overrides_split_at_the_first_equals_sign_and_keep_unparsable_text():
    assert parse_override("path.pretrain_model_G=a=b.pth") == (["path", "pretrain_model_G"], "a=b.pth")
    assert parse_override("train.manual_seed=") == (["train", "manual_seed"], None)
    assert parse_override("train.lr_steps=[1, 2") == (["train", "lr_steps"], "[1, 2")
    with pytest.raises(OptionError, match=r"^--set a\.b\.c=1: a\.b is not a section"):
        apply_overrides({"a": {"b": 3}}, ["a.b.c=1"])
    assert apply_overrides({"datasets": {}}, ["datasets.val.dataroot_GT=/x", "datasets.val.name=v"]) == {
        "datasets": {"val": {"dataroot_GT": "/x", "name": "v"}}}  # missing sections are created


def test_network_overrides_keep_only_the_given_keys_and_the_scale_wins():
    assert network_overrides(["nf=32", "global_residual=true"]) == {"nf": 32, "global_residual": True}
    assert network_overrides(["upscale=2"]) == {"upscale": 2}  # x2 alone validates
    assert network_overrides(["nf=16"], 2) == {"nf": 16, "upscale": 2}


def test_yaml_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("name: x\ntrain:\n  niter: [1, 2\n")
    with pytest.raises(OptionError, match=r"bad\.yml:4:1: invalid YAML"):
        read_yaml(str(path))
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert read_yaml(str(empty)) == {}


def test_loaded_options_know_their_file_and_dump_in_schema_order(tmp_path):
    path = tmp_path / "o.yml"
    path.write_text(yaml.safe_dump({"name": "x", "model": "sr", "datasets": {"train": {"dataroot_GT": "h"}},
                                    "train": {"niter": 3}}))
    opt = load_options(str(path))
    assert opt["opt_path"] == os.path.abspath(str(path))
    dumped = dump_options(opt)
    assert "opt_path" not in dumped
    assert list(yaml.safe_load(dumped))[:3] == ["name", "use_tb_logger", "model"]


# ---------------------------------------------------------------- numerical wiring
def test_image_gradients_are_forward_differences_along_width_then_height():
    from rwsr.losses.exclusion import image_gradients
    img = torch.tensor([[1.0, 2.0, 4.0], [3.0, 7.0, 8.0], [0.0, 5.0, 5.0]]).view(1, 1, 3, 3)
    grad_x, grad_y = image_gradients(img)
    assert torch.equal(grad_x[0, 0], torch.tensor([[1.0, 2.0], [4.0, 1.0], [5.0, 0.0]]))
    assert torch.equal(grad_y[0, 0], torch.tensor([[2.0, 5.0, 4.0], [-3.0, -2.0, -3.0]]))


def test_exclusion_balance_is_per_image():
    """Each image gets its own l_p, so a batch's loss is the mean of its images' losses."""
    from rwsr.losses import ExclusionLoss
    torch.manual_seed(3)
    y_p = torch.rand(2, 3, 16, 16) * torch.tensor([1.0, 10.0]).view(2, 1, 1, 1)
    y_1 = torch.rand(2, 3, 16, 16)
    loss = ExclusionLoss(2)
    separate = (loss(y_p[:1], y_1[:1]) + loss(y_p[1:], y_1[1:])) / 2
    torch.testing.assert_close(loss(y_p, y_1), separate)


def test_ssim_needs_only_more_than_the_window():
    from rwsr.metrics import calculate_ssim
    img = (np.random.default_rng(0).random((12, 12, 3)) * 255).astype(np.uint8)
    assert calculate_ssim(img, img) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        calculate_ssim(img[:10, :10], img[:10, :10])


def test_srgan_r_takes_an_align_term_when_asked():
    from rwsr.models.edl_objectives import OBJECTIVES
    terms = {name: torch.tensor(value) for name, value in
             {"pix": 0.1, "pix1": 0.2, "pix2": 0.3, "fea": 0.5, "gan": 0.7, "gan1": 0.6}.items()}
    _, extra = OBJECTIVES["srgan_r"].loss(terms, 0.5, 0.2)
    assert extra["align"].item() == pytest.approx(0.2 * (0.3 - 0.5) ** 2)


def test_ema_copy_is_frozen_and_its_decay_must_lie_strictly_between_0_and_1():
    from rwsr.models.ema import ModelEMA
    net = tiny_generator()
    ema = ModelEMA(net, 0.5)
    assert not any(p.requires_grad for p in ema.net.parameters())
    for decay in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError):
            ModelEMA(net, decay)
    other = ModelEMA(tiny_generator(), 0.5)
    other.load_state_dict(ema.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(other.net.parameters(), ema.net.parameters()))


def test_a_model_with_ema_saves_it_as_g_ema_and_sr_falls_back_to_weight_1():
    from rwsr.models import build_model
    model = build_model(options(model="sr", train={"ema_decay": 0.9, "pixel_weight": 0.0}), cpu_runtime(),
                        get_logger())
    assert set(model.networks()) == {"G", "G_ema"} and model.networks()["G_ema"] is model.ema.net
    assert model.pixel_weight == 1.0
    gt = torch.rand(2, 3, 32, 32)
    lq = torch.nn.functional.avg_pool2d(gt, 4)
    with torch.no_grad():
        y = model.net_g(lq)[0]
    assert model.optimize(1, lq, gt)["l_pix"].item() == pytest.approx((y - gt).abs().mean().item(), rel=1e-6)
    weighted = build_model(options(model="sr", train={"pixel_weight": 0.25}), cpu_runtime(), get_logger())
    assert weighted.pixel_weight == 0.25


def test_bicubic_lr_is_clipped_float32_and_crops_at_the_borders_match_the_whole_image():
    from rwsr.data.transforms import bicubic_downscale, bicubic_lr_crop, rgb_to_y
    from rwsr.utils.imresize import imresize
    hr = np.zeros((48, 64, 3), dtype=np.uint8)
    hr[:, 32:] = 255  # a hard edge: bicubic overshoots above 1 and below 0
    whole = bicubic_downscale(hr.astype(np.float32) / 255.0, 4)
    assert whole.dtype == np.float32 and whole.shape == (12, 16, 3)
    assert imresize(hr.astype(np.float64) / 255.0, 0.25).max() > 1.0 and whole.max() == 1.0 and whole.min() == 0.0
    for top, left in ((0, 0), (0, 8), (4, 0), (4, 8)):
        torch.testing.assert_close(torch.from_numpy(bicubic_lr_crop(hr, top, left, 8, 4)),
                                   torch.from_numpy(whole[top:top + 8, left:left + 8]))
    assert rgb_to_y(whole).dtype == np.float32


def test_imresize_torch_keeps_float64_and_gives_float32_for_integers():
    from rwsr.utils.imresize import imresize, imresize_torch
    img = np.random.default_rng(0).random((1, 1, 17, 13))
    out = imresize_torch(torch.from_numpy(img), 0.5)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out[0, 0].numpy(), imresize(img[0, 0], 0.5), atol=1e-12)
    assert imresize_torch(torch.from_numpy((img * 255).astype(np.uint8)), 0.5).dtype == torch.float32


def test_bf16_autocast_runs_on_the_cpu_and_fp16_falls_back_to_fp32():
    from rwsr.models import build_model
    with captured_project_log() as log:
        fp16 = build_model(options(train={"amp": "fp16", "feature_weight": 0.0}), cpu_runtime(), get_logger())
    assert fp16.precision.dtype is None and "applies on CUDA only" in log.text()
    bf16 = build_model(options(train={"amp": "bf16", "feature_weight": 0.0}), cpu_runtime(), get_logger())
    assert bf16.precision.dtype == torch.bfloat16
    seen = []
    bf16.net_d.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    gt = torch.rand(2, 3, 32, 32)
    logs = bf16.optimize(1, torch.nn.functional.avg_pool2d(gt, 4), gt)
    assert torch.bfloat16 in seen and all(torch.isfinite(value) for value in logs.values())
    assert all(p.dtype == torch.float32 for p in bf16.net_g.parameters())  # the weights stay fp32


def test_resume_state_reads_the_given_file_and_checks_it_against_the_options(tmp_path):
    save, opt = writer(tmp_path, keep_last=0)
    save.save(4, networks(), {"epoch": 1, "options": dump_options(opt), "seed": 3})
    path = str(tmp_path / "state" / "4.state")
    bundle = read_resume_bundle(dict(opt, path=dict(opt["path"], resume_state=path)), False, get_logger())
    assert bundle["path"] == path and bundle["state"]["epoch"] == 1 and set(bundle["networks"]) == {"G", "D", "G_ema"}
    changed = options(network_G={"nf": 16})
    with pytest.raises(RwsrError, match=r"^network_G\.nf: .*4\.state was saved with 8, the options say 16"):
        read_resume_bundle(dict(changed, path=dict(changed["path"], resume_state=path)), False, get_logger())


def test_auto_resume_checks_the_newest_state_against_the_options(tmp_path):
    opt = options(path={"experiments_root": str(tmp_path)})
    from rwsr.utils.experiment import experiment_paths
    paths = experiment_paths(opt)
    save = CheckpointWriter(paths, opt)
    for iteration in (2, 5):
        save.save(iteration, networks(), {"epoch": iteration, "options": dump_options(opt), "seed": 3})
    with open(os.path.join(paths["training_state"], "9.state"), "wb") as handle:
        handle.write(b"cut short")  # the newest file is unreadable: the previous one is taken, with a warning
    with captured_project_log() as log:
        assert read_resume_bundle(opt, True, get_logger())["state"]["epoch"] == 5
    assert "9.state" in log.text()
    changed = options(path={"experiments_root": str(tmp_path)}, network_G={"nf": 16})
    with pytest.raises(RwsrError, match=r"^network_G\.nf"):
        read_resume_bundle(changed, True, get_logger())


def test_a_resume_needs_the_same_networks_as_the_options_train():
    check_networks_present({"networks": {"G": None, "D": None}, "path": "x.state"}, ["D", "G"])
    with pytest.raises(RwsrError, match=r"x\.state holds networks \['D', 'G'\] but these options train "
                                        r"\['D', 'G', 'G_ema'\] \(train\.ema_decay or train\.gan_weight changed\?\)"):
        check_networks_present({"networks": {"G": None, "D": None}, "path": "x.state"}, ["G", "D", "G_ema"])
