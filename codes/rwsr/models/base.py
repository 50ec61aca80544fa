"""What every training model shares: the generator, its optimiser, EMA, learning rates."""
import torch

from ..archs import GENERATOR_OUTPUTS, generator_arguments, generator_outputs, is_dual_output, is_import_path
from ..archs.network_files import load_network
from ..utils.errors import OptionError, RwsrError
from .ema import ModelEMA
from .extra_losses import branch_outputs, build_extra_losses, plugin_search_dirs
from .lr_schedule import schedule_from_options
from .optim import NetOptimizer, Precision


class BaseModel:
    """Generator side of training; subclasses add losses and (for EDL) the discriminator."""

    def __init__(self, opt, runtime, logger):
        self.opt = opt
        self.train_opt = opt["train"]
        self.runtime = runtime
        self.device = runtime.device
        self.logger = logger
        self.precision = Precision(self.train_opt["amp"], self.device, logger)
        # CUDA only: on the CPU it measured no faster (bench/bench_train.py) and oneDNN picks its own layout.
        self.memory_format = (torch.channels_last if self.train_opt["channels_last"] and self.device.type == "cuda"
                              else torch.contiguous_format)
        self.schedule = schedule_from_options(self.train_opt)
        cls, _, kwargs = generator_arguments(dict(opt["network_G"], scale=opt["scale"]), opt.get("plugins", ()),
                                             plugin_search_dirs(opt))
        if is_import_path(opt["network_G"]["which_model_G"]):
            # Checkpoints record network_G: for your own class, the arguments it was built with (upscale
            # included when it came from scale), so a weight file alone says how to rebuild it.
            opt["network_G"] = dict(which_model_G=opt["network_G"]["which_model_G"], **kwargs)
        self.net_g = self._place(cls(**kwargs))
        self._load_pretrained(self.net_g, opt["path"]["pretrain_model_G"])
        decay = self.train_opt["ema_decay"] or 0.0
        self.ema = ModelEMA(self.net_g, decay) if decay > 0 else None
        self.net_g_train = runtime.wrap_ddp(self.net_g, find_unused=self.generator_leaves_parameters_unused())
        self.optimizers = {"G": self._make_optimizer(self.net_g, "G", self.generator_betas())}
        self.extra_losses = build_extra_losses(opt, self.device)
        self._outputs_checked = False

    # construction helpers
    def _place(self, net):
        return net.to(self.device, memory_format=self.memory_format).train()

    def _load_pretrained(self, net, path):
        if path:
            load_network(net, path, strict=self.opt["path"]["strict_load"], logger=self.logger)

    def generator_betas(self):
        """Adam betas of G; None: train.beta1_G / beta2_G."""
        return None

    def _make_optimizer(self, net, which, betas=None):
        t = self.train_opt
        lr = t[f"lr_{which}"]
        betas = betas or (t[f"beta1_{which}"], t[f"beta2_{which}"])
        return NetOptimizer(net, lr, betas, t[f"weight_decay_{which}"], self.device, self.precision, t["grad_clip"])

    def generator_leaves_parameters_unused(self):
        """True when a generator step may leave parameters without gradient (DDP must then search for them
        in every step, which costs time, so only then). Model sr's loss reads y: every parameter."""
        return False

    def to_device_layout(self, tensor):
        return tensor.contiguous(memory_format=self.memory_format)

    def branch_loss_users(self):
        """Names of the losses that read y_p or y_1 (they need a generator returning (y, y_p, y_1))."""
        return [extra.name for extra in self.extra_losses if {"y_p", "y_1"} & branch_outputs([extra])]

    def generator_output_dict(self, out, gt):
        """{y, y_p, y_1} of a generator forward; a single-output generator's y stands for all three.

        The first call checks what only a forward shows: the output size, and the branches that losses read.
        """
        outputs = dict(zip(GENERATOR_OUTPUTS, generator_outputs(out)))
        if not self._outputs_checked:
            users = self.branch_loss_users()
            if users and not is_dual_output(out):
                raise OptionError(f"train: {users[0]} needs the branches y_p and y_1, but the generator "
                                  f"({self.opt['network_G']['which_model_G']}) returns only y")
            if outputs["y"].shape[-2:] != gt.shape[-2:]:
                raise RwsrError(f"network_G: the generator returns {tuple(outputs['y'].shape[-2:])} images for HR "
                                f"crops of {tuple(gt.shape[-2:])} (scale {self.opt['scale']}); does it upscale by "
                                f"{self.opt['scale']}?", exit_code=2)
            self._outputs_checked = True
        return outputs

    # training interface
    def networks(self):
        """Networks saved in checkpoints, by checkpoint suffix (G, D, G_ema)."""
        nets = {"G": self.net_g}
        if self.ema is not None:
            nets["G_ema"] = self.ema.net
        return nets

    def update_learning_rate(self, iteration):
        """Rates (and, at a restart with clear_state, optimiser states) for the update of `iteration`."""
        clear = self.schedule.clears_state_at(iteration)
        for optimizer in self.optimizers.values():
            if clear:
                optimizer.clear_state()
            optimizer.set_lr(self.schedule.lr(optimizer.base_lr, iteration))

    def current_lr(self):
        return self.optimizers["G"].lr

    def optimize(self, iteration, lq, gt):
        """One training iteration; returns {loss name: detached scalar tensor}."""
        raise NotImplementedError

    def _after_generator_step(self):
        if self.ema is not None:
            self.ema.update(self.net_g)

    @torch.no_grad()
    def test(self, lq):
        """y for lq with the network used for validation (the EMA when enabled)."""
        net = self.ema.net if self.ema is not None else self.net_g
        was_training = net.training
        net.eval()
        with self.precision.autocast():
            y = generator_outputs(net(self.to_device_layout(lq)))[0]
        net.train(was_training)
        return y.float()

    def validation_network(self):
        return self.ema.net if self.ema is not None else self.net_g

    def optimizer_states(self):
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_optimizer_states(self, states):
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(states[name])
