"""Engine building blocks: learning-rate schedules, EMA, RNG states, the EDL update order."""
import io
import logging
import os
import math
import random

import numpy as np
import pytest
import torch

from arch_helpers import captured_project_log
from rwsr.engine.rng import capture_rng_states, restore_rng_states
from rwsr.archs.network_files import save_network
from rwsr.models import build_model
from rwsr.runtime import cpu_runtime
from rwsr.models.lr_schedule import schedule_from_options
from rwsr.options import validate
from rwsr.utils.errors import OptionError, RwsrError
from rwsr.utils.logger import get_logger

BASE = 1e-3


def torch_rates(scheduler_cls, steps, **kwargs):
    """Rates of a torch scheduler stepped once before each iteration, as the official loop does."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=BASE)
    scheduler = scheduler_cls(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def schedule(lr_scheme, **train):
    """The schedule a run gets from these `train` options (validated, defaults filled in)."""
    return schedule_from_options(tiny_model_options(model="sr", pixel_weight=1.0, lr_scheme=lr_scheme, **train)["train"])


def test_multistep_matches_torch_multisteplr():
    sched = schedule("MultiStepLR", lr_steps=[3, 7, 7, 12], lr_gamma=0.5)
    expected = torch_rates(torch.optim.lr_scheduler.MultiStepLR, 15, milestones=[3, 7, 7, 12], gamma=0.5)
    assert [sched.lr(BASE, it) for it in range(1, 16)] == pytest.approx(expected, rel=1e-12)


def test_cosine_first_cycle_matches_torch():
    sched = schedule("CosineAnnealingLR_Restart", T_period=[10], eta_min=1e-6)
    expected = torch_rates(torch.optim.lr_scheduler.CosineAnnealingLR, 10, T_max=10, eta_min=1e-6)
    assert [sched.lr(BASE, it) for it in range(1, 11)] == pytest.approx(expected, rel=1e-9)


def test_multistep_restart_sets_the_rate_of_its_own_iteration():
    # Hand-worked from the official semantics (scheduler stepped before each update): the restart at 10
    # gives the update of iteration 10 base * 0.8, overriding the milestone at 10; milestones after it
    # halve the restarted rate.
    sched = schedule("MultiStepLR_Restart", lr_steps=[5, 10, 12], lr_gamma=0.5, restarts=[10],
                          restart_weights=[0.8])
    rates = {it: sched.lr(BASE, it) for it in (4, 5, 9, 10, 11, 12, 20)}
    assert rates == pytest.approx({4: 1e-3, 5: 5e-4, 9: 5e-4, 10: 8e-4, 11: 8e-4, 12: 4e-4, 20: 4e-4}, rel=1e-12)


def test_multistep_restarts_compound_with_later_milestones_and_restarts():
    sched = schedule("MultiStepLR", lr_steps=[2, 4, 4, 7], lr_gamma=0.1, restarts=[3, 6],
                          restart_weights=[0.5, 0.25])
    expected = [1e-3, 1e-4, 5e-4, 5e-6, 5e-6, 2.5e-4, 2.5e-5, 2.5e-5]
    assert [sched.lr(BASE, it) for it in range(1, 9)] == pytest.approx(expected, rel=1e-12)


def test_cosine_restart_starts_a_new_cycle_at_its_own_iteration():
    sched = schedule("CosineAnnealingLR_Restart", T_period=[10, 20], restarts=[10], restart_weights=[0.8],
                          eta_min=0.0)
    assert sched.lr(BASE, 9) == pytest.approx(BASE * (1 + math.cos(0.9 * math.pi)) / 2, rel=1e-12)
    assert sched.lr(BASE, 10) == pytest.approx(0.8 * BASE, rel=1e-12)
    assert sched.lr(BASE, 11) == pytest.approx(0.8 * BASE * (1 + math.cos(math.pi / 20)) / 2, rel=1e-12)
    assert sched.lr(BASE, 20) == pytest.approx(0.4 * BASE, rel=1e-12)
    assert sched.lr(BASE, 30) == pytest.approx(0.0, abs=1e-18)


def test_cosine_without_restart_reaches_eta_min_at_the_end_of_its_period():
    sched = schedule("CosineAnnealingLR_Restart", T_period=[4], eta_min=1e-5)
    expected = [1e-5 + (BASE - 1e-5) * (1 + math.cos(math.pi * it / 4)) / 2 for it in range(1, 5)]
    assert [sched.lr(BASE, it) for it in range(1, 5)] == pytest.approx(expected, rel=1e-12)
    assert sched.lr(BASE, 4) == pytest.approx(1e-5, rel=1e-12)


def test_clear_state_empties_the_optimiser_states_at_each_restart():
    model = make_model(model="sr", pixel_weight=1.0, lr_scheme="MultiStepLR", restarts=[3], restart_weights=[1.0],
                       clear_state=True)
    lq, gt = batch()
    steps_seen = []
    for iteration in range(1, 5):
        model.update_learning_rate(iteration)
        states = model.optimizers["G"].optimizer.state
        steps_seen.append(max((int(state["step"]) for state in states.values()), default=0))
        model.optimize(iteration, lq, gt)
    # Adam had taken 0, 1, 2 steps before iterations 1-3; the restart at 3 empties it, so 0 again; then 1
    assert steps_seen == [0, 1, 0, 1]


def test_clear_state_restart_step_equals_a_fresh_adam_step():
    lq, gt = batch()
    restarted = make_model(model="sr", pixel_weight=1.0, restarts=[2], restart_weights=[1.0], clear_state=True)
    kept = make_model(model="sr", pixel_weight=1.0, restarts=[2], restart_weights=[1.0])
    for model in (restarted, kept):
        model.update_learning_rate(1)
        model.optimize(1, lq, gt)
    fresh = make_model(model="sr", pixel_weight=1.0)
    fresh.net_g.load_state_dict(restarted.net_g.state_dict())
    for model in (restarted, kept, fresh):
        model.update_learning_rate(2)
        model.optimize(2, lq, gt)
    for name, value in restarted.net_g.state_dict().items():
        assert torch.equal(value, fresh.net_g.state_dict()[name]), name
    assert not all(torch.equal(value, kept.net_g.state_dict()[name]) for name, value in restarted.net_g.state_dict().items())


def test_clear_state_is_not_applied_by_the_cosine_scheme():
    sched = schedule("CosineAnnealingLR_Restart", T_period=[4, 4], restarts=[4], restart_weights=[1],
                          clear_state=True)
    assert not sched.clears_state_at(4)
    assert schedule("MultiStepLR", restarts=[4], restart_weights=[1], clear_state=True).clears_state_at(4)


def test_warmup_is_linear_then_follows_the_schedule():
    sched = schedule("MultiStepLR", lr_steps=[6], lr_gamma=0.1, warmup_iter=4)
    assert [sched.lr(BASE, it) for it in (1, 2, 3, 4, 6)] == pytest.approx(
        [BASE / 4, BASE / 2, 3 * BASE / 4, BASE, BASE / 10])
    # warm-up covers the iterations before warmup_iter; a milestone inside it applies from there on
    early = schedule("MultiStepLR", lr_steps=[2], lr_gamma=0.1, warmup_iter=4)
    assert [early.lr(BASE, it) for it in (1, 3, 4, 5)] == pytest.approx([BASE / 4, 3 * BASE / 4, BASE / 10, BASE / 10])


def test_null_warmup_means_no_warm_up():
    plain, null = schedule("MultiStepLR", lr_steps=[3]), schedule("MultiStepLR", lr_steps=[3], warmup_iter=None)
    assert [null.lr(BASE, it) for it in range(1, 6)] == [plain.lr(BASE, it) for it in range(1, 6)] == pytest.approx(
        [BASE, BASE, BASE / 2, BASE / 2, BASE / 2])


@pytest.mark.parametrize("kwargs, key", [
    ({"lr_scheme": "CosineAnnealingLR_Restart", "T_period": [10], "restarts": [10], "restart_weights": [1]},
     "T_period"),
    ({"lr_scheme": "CosineAnnealingLR_Restart", "T_period": [10, 0], "restarts": [10], "restart_weights": [1]},
     "T_period"),
    ({"lr_scheme": "MultiStepLR", "restarts": [5, 9], "restart_weights": [1]}, "restart_weights"),
    ({"lr_scheme": "MultiStepLR", "restarts": [9, 5], "restart_weights": [1, 1]}, "restarts"),
])
def test_schedule_option_errors_name_the_key(kwargs, key):
    with pytest.raises(OptionError, match=f"train.{key}"):
        schedule(**kwargs)


def test_rng_states_survive_a_weights_only_round_trip():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    states = capture_rng_states()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    buffer = io.BytesIO()
    torch.save(states, buffer)
    buffer.seek(0)
    restore_rng_states(torch.load(buffer, weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


# ---------------------------------------------------------------- models
def tiny_model_options(path=None, **train):
    raw = {"name": "unit", "model": train.pop("model", "srgan"), "scale": 4, "device": "cpu",
           "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 2, "GT_size": 32}},
           "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
           "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
           "train": dict({"niter": 10, "lr_G": 1e-3, "lr_D": 1e-3, "feature_weight": 0.0}, **train),
           "path": path or {}}
    return validate(raw)


def make_model(seed=0, **train):
    torch.manual_seed(seed)
    return build_model(tiny_model_options(**train), cpu_runtime(), get_logger())


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    gt = torch.rand(2, 3, 32, 32, generator=gen)
    return torch.nn.functional.avg_pool2d(gt, 4), gt


def snapshot(net):
    return {k: v.detach().clone() for k, v in net.named_parameters()}


def changed(before, net, prefix):
    return any(not torch.equal(before[k], v) for k, v in net.named_parameters() if k.startswith(prefix))


def test_sr_model_minimises_l1_of_y():
    model = make_model(model="sr", pixel_weight=1.0)
    lq, gt = batch()
    with torch.no_grad():
        y = model.net_g(lq)[0]
    losses = model.optimize(1, lq, gt)
    assert set(losses) == {"l_pix"}
    assert losses["l_pix"].item() == pytest.approx((y - gt).abs().mean().item(), rel=1e-6)


def test_pixel_loss_reaches_only_the_l1_branch_and_adversarial_only_the_perceptual_branch():
    lq, gt = batch()
    pixel_only = make_model(gan_weight=0.0, pixel_weight=1.0)
    before = snapshot(pixel_only.net_g)
    pixel_only.optimize(1, lq, gt)
    assert changed(before, pixel_only.net_g, "tail_conv2") and not changed(before, pixel_only.net_g, "tail_conv1")
    assert not changed(before, pixel_only.net_g, "branch1")
    gan_only = make_model(pixel_weight=0.0, gan_weight=1.0)
    before = snapshot(gan_only.net_g)
    gan_only.optimize(1, lq, gt)
    assert changed(before, gan_only.net_g, "tail_conv1") and not changed(before, gan_only.net_g, "tail_conv2")
    assert not changed(before, gan_only.net_g, "branch2")


def test_discriminator_sees_y_p_in_the_generator_step_and_detached_y_in_its_own_step():
    model = make_model()
    lq, gt = batch()
    with torch.no_grad():
        y, y_p, _ = model.net_g(lq)
    seen = []
    model.net_d.register_forward_hook(lambda module, args, out: seen.append((args[0].detach().clone(),
                                                                            args[0].requires_grad)))
    model.optimize(1, lq, gt)
    # G step: D(y_p) with gradient to G, D(HR) for the relativistic mean; D step: D(HR), D(y detached)
    assert len(seen) == 4
    assert torch.allclose(seen[0][0], y_p) and seen[0][1]
    assert torch.equal(seen[1][0], gt) and torch.equal(seen[2][0], gt)
    assert torch.allclose(seen[3][0], y) and not seen[3][1]


def test_d_init_iters_and_update_ratio_gate_the_generator_step():
    model = make_model(D_init_iters=2, D_update_ratio=2)
    lq, gt = batch()
    updated = []
    for iteration in range(1, 7):
        before_g, before_d = snapshot(model.net_g), snapshot(model.net_d)
        losses = model.optimize(iteration, lq, gt)
        updated.append((changed(before_g, model.net_g, ""), changed(before_d, model.net_d, ""),
                        "l_g_pix2" in losses))
    # G steps when iteration % 2 == 0 and iteration > 2: iterations 4 and 6; D steps every iteration
    assert updated == [(False, True, False), (False, True, False), (False, True, False),
                       (True, True, True), (False, True, False), (True, True, True)]


def test_d_warm_up_trains_the_discriminator_on_y():
    model = make_model(D_init_iters=2)
    lq, gt = batch()
    with torch.no_grad():
        y, y_p, _ = model.net_g(lq)
    seen = []
    model.net_d.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    model.optimize(1, lq, gt)
    # no G step during the warm-up: D sees HR and the generator's final output y only
    assert len(seen) == 2 and torch.equal(seen[0], gt)
    assert torch.allclose(seen[1], y) and not torch.allclose(seen[1], y_p)


def generator_without_tail(source, path):
    """A generator file of source's weights without tail_conv1 (another head, say)."""
    return save_network({k: v for k, v in source.net_g.state_dict().items() if not k.startswith("tail_conv1")}, path)


def test_pretrained_weights_start_both_networks(tmp_path):
    source = make_model(seed=1)
    paths = {"pretrain_model_G": save_network(source.net_g, tmp_path / "G.pth"),
             "pretrain_model_D": save_network(source.net_d, tmp_path / "D.pth")}
    started = make_model(seed=2, path=paths)
    for name in ("net_g", "net_d"):
        for key, value in getattr(source, name).state_dict().items():
            assert torch.equal(getattr(started, name).state_dict()[key], value), (name, key)
    # strict_load: false accepts weights of a generator with a different tail
    head_only = generator_without_tail(source, tmp_path / "head.pth")
    with pytest.raises(RwsrError, match="tail_conv1"):
        make_model(path={"pretrain_model_G": head_only})
    partial = make_model(seed=2, path={"pretrain_model_G": head_only, "strict_load": False})
    assert torch.equal(partial.net_g.state_dict()["conv_first.weight"], source.net_g.state_dict()["conv_first.weight"])


def test_partial_loads_are_reported_to_the_model_logger(tmp_path):
    path = generator_without_tail(make_model(seed=1), tmp_path / "head.pth")
    options = tiny_model_options(path={"pretrain_model_G": path, "strict_load": False})
    model_logger = logging.getLogger("rwsr-test-model-logger")  # not the project logger
    with captured_project_log(model_logger) as log:
        build_model(options, cpu_runtime(), model_logger)
    assert "partial load of EDLRRDBNet" in log.text(logging.WARNING) and "tail_conv1" in log.text()


def test_null_d_update_ratio_updates_the_generator_every_iteration():
    model = make_model(D_update_ratio=None)
    lq, gt = batch()
    for iteration in (1, 2, 3):
        assert "l_g_total" in model.optimize(iteration, lq, gt)


def test_l2_feature_criterion_is_the_mean_squared_feature_distance():
    model = make_model(feature_weight=1.0, feature_criterion="l2", feature_pretrained=False, feature_layer="conv1_2")
    x, gt = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    vgg = model.feature_loss.vgg
    with torch.no_grad():
        expected = ((vgg(x) - vgg(gt)) ** 2).mean()
        assert model.feature_loss(x, gt).item() == pytest.approx(expected.item(), rel=1e-5)
        assert model.feature_loss(x, gt).item() != pytest.approx((vgg(x) - vgg(gt)).abs().mean().item(), rel=1e-3)


def test_gan_model_warns_about_the_sr_only_beta_keys():
    with captured_project_log() as log:
        make_model(beta1=0.5)
    assert "train.beta1 is read by model sr only; the GAN model uses beta1_G / beta1_D" in log.text()
    assert "beta2" not in log.text()
    with captured_project_log() as log:
        make_model()
    assert "read by model sr only" not in log.text()


def test_gan_weight_zero_trains_without_a_discriminator():
    model = make_model(gan_weight=0.0)
    assert "D" not in model.networks() and model.net_d is None
    assert set(model.optimize(1, *batch())) == {"l_g_pix", "l_g_pix1", "l_g_pix2", "l_g_total"}


def test_ema_follows_the_generator_with_the_given_decay():
    model = make_model(model="sr", ema_decay=0.9)
    before = snapshot(model.net_g)
    model.optimize(1, *batch())
    for key, ema_value in model.ema.net.named_parameters():
        expected = 0.9 * before[key] + 0.1 * dict(model.net_g.named_parameters())[key].detach()
        assert torch.allclose(ema_value, expected, atol=1e-7), key
    assert model.validation_network() is model.ema.net


def test_cr_weight_is_accepted_and_reported_unused_by_srgan():
    with captured_project_log() as log:
        make_model(cr_weight=1e-3)
    assert "cr_weight=0.001 is accepted but unused by model srgan" in log.text()
    with captured_project_log() as log:
        make_model(model="srgan_an", cr_weight=1e-3, feature_weight=1.0, feature_pretrained=False,
                   feature_layer="conv1_2")
    assert "cr_weight" not in log.text()


def test_sr_model_reads_the_official_beta_keys():
    assert make_model(model="sr", pixel_weight=1.0, beta1=0.5, beta2=0.9).optimizers["G"].optimizer.param_groups[0][
        "betas"] == (0.5, 0.9)
    assert make_model(model="sr", pixel_weight=1.0, beta1_G=0.7).optimizers["G"].optimizer.param_groups[0][
        "betas"] == (0.7, 0.999)
    gan = make_model(beta1_G=0.6, beta2_G=0.95, beta1_D=0.4, beta2_D=0.99)
    assert gan.optimizers["G"].optimizer.param_groups[0]["betas"] == (0.6, 0.95)
    assert gan.optimizers["D"].optimizer.param_groups[0]["betas"] == (0.4, 0.99)


def test_gradient_clipping_bounds_the_gradient_norm():
    model = make_model(model="sr", pixel_weight=1.0, grad_clip=1e-4)
    model.optimize(1, *batch())
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.net_g.parameters()
                                                 if p.grad is not None]))
    assert norm.item() == pytest.approx(1e-4, rel=1e-3)


def test_a_generator_without_any_loss_is_an_option_error():
    with pytest.raises(OptionError, match="no loss"):
        make_model(pixel_weight=0.0, gan_weight=0.0)


def test_train_cli_accepts_both_local_rank_spellings():
    from rwsr.cli.train import build_parser
    for flag in ("--local_rank", "--local-rank"):
        args = build_parser().parse_args(["-opt", "x.yml", "--launcher", "pytorch", flag, "1"])
        assert args.local_rank == 1 and args.launcher == "pytorch"


def test_gpu_ids_set_cuda_visible_devices_only_for_single_process_runs(monkeypatch):
    from rwsr.runtime import apply_gpu_ids
    for var in ("CUDA_VISIBLE_DEVICES", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert apply_gpu_ids([0, 2], "pytorch") is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert apply_gpu_ids([0, 2], "none") == "0,2" and os.environ["CUDA_VISIBLE_DEVICES"] == "0,2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert apply_gpu_ids([0], "none") is None and os.environ["CUDA_VISIBLE_DEVICES"] == "1"


def test_optimiser_states_round_trip_through_a_checkpoint_file(tmp_path):
    lq, gt = batch()
    trained = make_model(lr_scheme="MultiStepLR", lr_steps=[2], lr_gamma=0.5)
    for iteration in (1, 2):
        trained.update_learning_rate(iteration)
        trained.optimize(iteration, lq, gt)
    assert trained.current_lr() == pytest.approx(0.5e-3)
    torch.save(trained.optimizer_states(), tmp_path / "optimizers.pth")
    resumed = make_model(lr_scheme="MultiStepLR", lr_steps=[2], lr_gamma=0.5)
    for name, net in trained.networks().items():
        resumed.networks()[name].load_state_dict(net.state_dict())
    resumed.load_optimizer_states(torch.load(tmp_path / "optimizers.pth", weights_only=True))
    for model in (trained, resumed):
        model.update_learning_rate(3)
        model.optimize(3, lq, gt)
    for name, net in trained.networks().items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.networks()[name].state_dict()[key]), (name, key)
    assert set(trained.networks()) == {"G", "D"}


@pytest.mark.parametrize("weight", [0.0, -1.0])
def test_sr_model_without_a_positive_pixel_weight_trains_with_weight_one(weight):
    with captured_project_log() as log:
        model = make_model(model="sr", pixel_weight=weight)
    assert f"train.pixel_weight is {weight}; model sr trains with weight 1" in log.text()
    lq, gt = batch()
    with torch.no_grad():
        y = model.net_g(lq)[0]
    assert model.optimize(1, lq, gt)["l_pix"].item() == pytest.approx((y - gt).abs().mean().item(), rel=1e-6)
    with captured_project_log() as log:
        make_model(model="sr", pixel_weight=0.5)
    assert "pixel_weight" not in log.text()


def test_validation_uses_the_ema_network_when_there_is_one():
    plain = make_model()
    assert plain.validation_network() is plain.net_g
    averaged = make_model(ema_decay=0.9)
    assert averaged.validation_network() is averaged.ema.net and averaged.ema.net is not averaged.net_g


def test_wgan_gp_adds_the_weighted_penalty_of_real_and_generated_images(monkeypatch):
    import rwsr.models.edl_model as edl_model
    model = make_model(gan_type="wgan-gp", gp_weight=10.0, pixel_weight=1.0)
    weight = next(model.net_d.parameters())
    before = weight.detach().clone()
    calls = []

    def penalty(net, real, fake):  # large enough to decide the sign of Adam's first step
        calls.append((net, real.detach().clone(), fake.detach().clone()))
        return 1e5 * (next(net.parameters()) ** 2).sum()

    monkeypatch.setattr(edl_model, "gradient_penalty", penalty)
    lq, gt = batch()
    logs = model.optimize(1, lq, gt)
    assert len(calls) == 1 and calls[0][0] is model.net_d
    assert torch.equal(calls[0][1], gt) and calls[0][2].shape == gt.shape and not torch.equal(calls[0][2], gt)
    assert logs["l_d_gp"].item() == pytest.approx(10.0 * 1e5 * (before ** 2).sum().item(), rel=1e-5)
    moved = weight.detach() - before
    assert (moved * before < 0).float().mean() > 0.99  # every weight stepped towards zero: + penalty
