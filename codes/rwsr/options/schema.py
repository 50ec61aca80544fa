"""Every option key: its type, default and meaning.

This table is the single source of truth: the loader validates against it and
`python -m rwsr.options.doc` prints the README's option reference from it.
Keys of the official RWSR-EDL option files keep their names and meanings.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

REQUIRED = object()

MODELS = ("sr", "srgan", "edl", "srgan_al", "srgan_an", "srgan_r")
# Image-quality metrics of validation and test.py (rwsr.metrics computes them).
METRICS = ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")
# The EDL loss variants of the authors' compiled code; each needs the relativistic GAN loss.
LOSS_VARIANTS = ("srgan_al", "srgan_an", "srgan_r")
# train.align_weight when the option file leaves it null: the constant of the compiled code.
ALIGN_WEIGHT_DEFAULTS = {"srgan": 0.0, "srgan_al": 0.01, "srgan_an": 0.01, "srgan_r": 0.0}
# train.cr_weight of the variants when the option file leaves it null: the official NTIRE file's value.
CR_WEIGHT_DEFAULT = 1e-3


@dataclass(frozen=True)
class Opt:
    """One option: kind is 'int', 'float', 'bool', 'str', 'list[int]', 'list[float]' or 'list[str]'.

    For lists, choices constrain each item."""

    kind: str
    default: Any
    doc: str
    choices: Optional[Tuple[Any, ...]] = None
    nullable: bool = True
    import_path: bool = False  # also accepts module:Class (rwsr.utils.registry)


def _opt(kind, default, doc, choices=None, nullable=True, import_path=False):
    return Opt(kind, default, doc, tuple(choices) if choices else None, nullable, import_path)


def _size(default, doc):
    """A network size (channels, blocks, layers): an int that must be given."""
    return _opt("int", default, doc, nullable=False)


GENERAL = {
    "name": _opt("str", REQUIRED, "experiment name: experiments/<name>/ and results/<name>/", nullable=False),
    "use_tb_logger": _opt("bool", False, "write TensorBoard logs to tb_logger/<name>"),
    "model": _opt("str", "srgan", "sr: pixel-loss pre-training; srgan (alias edl): the EDL GAN model with the "
                  "published loss; srgan_al, srgan_an, srgan_r: the authors' exclusionary loss variants",
                  choices=MODELS),
    "distortion": _opt("str", "sr", "kept for official option files; only 'sr'", choices=("sr",)),
    "scale": _opt("int", 4, "super-resolution factor, one the generator supports (RRDBNet, RRDB: 1, 2, 3 or 4)",
                  nullable=False),
    "gpu_ids": _opt("list[int]", None, "GPUs to train on (official files): with N > 1 and no launcher, train.py starts N "
                    "processes (DDP), as torchrun would; sets CUDA_VISIBLE_DEVICES unless it is set; ignored on the CPU"),
    "suffix": _opt("str", None, "suffix appended to saved result names (test)"),
    "crop_border": _opt("int", None, "border cropped before PSNR/SSIM; null means scale"),
    "device": _opt("str", "auto", "auto (CUDA when available), cpu or cuda", choices=("auto", "cpu", "cuda")),
    "plugins": _opt("list[str]", [], "modules of your own that may be imported (as --plugin): a generator named by a "
                    "weight file's metadata is built only when its module is listed; modules an option file names "
                    "in an import path (module:Class) are allowed anyway"),
}

DATASET = {
    "name": _opt("str", None, "dataset name used in logs and result folders"),
    "mode": _opt("str", "LQGT", "LQGT: HR/LR pairs; LR: LR images only (test); GT: HR images only, LR made on the "
                 "training device by Real-ESRGAN's degradations (training)", choices=("LQGT", "LR", "GT")),
    "aug": _opt("str", None, "'noise': inject real noise patches into LR training batches", choices=("noise",)),
    "noise_data": _opt("str", None, "folder of noise patches (preprocess/collect_noise.py)"),
    "dataroot_GT": _opt("str", None, "HR folder or .lmdb"),
    "dataroot_LQ": _opt("str", None, "LR folder or .lmdb; null makes LR on the fly with MATLAB bicubic"),
    "dataroot_LR": _opt("str", None, "LR folder for mode LR (test)"),
    "train_list": _opt("str", None, "NGDC training list (preprocess/ngdc.py) replacing the folder listing"),
    "use_shuffle": _opt("bool", True, "shuffle training samples every epoch"),
    "n_workers": _opt("int", 2, "data loader worker processes per process (per GPU)", nullable=False),
    "batch_size": _opt("int", 16, "total batch size over all processes", nullable=False),
    "GT_size": _opt("int", 128, "HR crop size for training (LR crop is GT_size/scale)", nullable=False),
    "use_flip": _opt("bool", True, "random horizontal flips (training)"),
    "use_rot": _opt("bool", True, "random 90-degree rotations and vertical flips (training)"),
    "color": _opt("str", "RGB", "RGB, or Y to train/test on luma only", choices=("RGB", "Y")),
}

# Real-ESRGAN's kernel keys of a `mode: GT` training set (its dataset keys; `2`: the second order).
KERNEL_FAMILIES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
_KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]


def _blur_keys(suffix, order, sigma):
    return {
        f"blur_kernel_size{suffix}": _opt("int", 21, f"{order} blur: kernel size (odd, >= 7); the support is drawn "
                                          "among the odd sizes from 7 up to it", nullable=False),
        f"kernel_list{suffix}": _opt("list[str]", list(KERNEL_FAMILIES), f"{order} blur: kernel families",
                                     choices=KERNEL_FAMILIES, nullable=False),
        f"kernel_prob{suffix}": _opt("list[float]", list(_KERNEL_PROB), f"{order} blur: probability of each family "
                                     "of kernel_list", nullable=False),
        f"sinc_prob{suffix}": _opt("float", 0.1, f"{order} blur: probability of a sinc filter instead", nullable=False),
        f"blur_sigma{suffix}": _opt("list[float]", sigma, f"{order} blur: [min, max] of sigma_x and sigma_y",
                                    nullable=False),
        f"betag_range{suffix}": _opt("list[float]", [0.5, 4.0], f"{order} blur: [min, max] of beta, generalized "
                                     "Gaussian (min <= 1 <= max)", nullable=False),
        f"betap_range{suffix}": _opt("list[float]", [1.0, 2.0], f"{order} blur: [min, max] of beta, plateau "
                                     "(min <= 1 <= max)", nullable=False),
    }


DATASET.update(_blur_keys("", "mode GT, first-order", [0.2, 3.0]))
DATASET.update(_blur_keys("2", "mode GT, second-order", [0.2, 1.5]))
DATASET["final_sinc_prob"] = _opt("float", 0.8, "mode GT: probability of the final sinc filter", nullable=False)


def _stage_keys(suffix, order, resize_prob, resize_range, noise_range, poisson_range):
    return {
        f"resize_prob{suffix}": _opt("list[float]", resize_prob, f"{order}: probabilities of [up, down, keep]",
                                     nullable=False),
        f"resize_range{suffix}": _opt("list[float]", resize_range, f"{order}: [min, max] resize factor "
                                      "(min <= 1 <= max)", nullable=False),
        f"gaussian_noise_prob{suffix}": _opt("float", 0.5, f"{order}: probability of Gaussian noise (else Poisson)",
                                             nullable=False),
        f"noise_range{suffix}": _opt("list[float]", noise_range, f"{order}: [min, max] Gaussian sigma (8-bit levels)",
                                     nullable=False),
        f"poisson_scale_range{suffix}": _opt("list[float]", poisson_range, f"{order}: [min, max] Poisson noise "
                                             "scale", nullable=False),
        f"gray_noise_prob{suffix}": _opt("float", 0.4, f"{order}: probability that the noise is gray",
                                         nullable=False),
        f"jpeg_range{suffix}": _opt("list[float]", [30.0, 95.0], f"{order}: [min, max] JPEG quality (1-100, real "
                                    "codec)", nullable=False),
    }


# Real-ESRGAN's degradation keys: the top level of its option files, accepted there as well.
DEGRADATION = {
    "gt_usm": _opt("bool", True, "train on the USM-sharpened HR (the LR is made from the HR as it is)"),
    **_stage_keys("", "first order", [0.2, 0.7, 0.1], [0.15, 1.5], [1.0, 30.0], [0.05, 3.0]),
    "second_blur_prob": _opt("float", 0.8, "second order: probability of the blur", nullable=False),
    **_stage_keys("2", "second order", [0.3, 0.4, 0.3], [0.3, 1.2], [1.0, 25.0], [0.05, 2.5]),
    "gt_size": _opt("int", None, "HR crop after the degradation (a multiple of scale, at most GT_size); null: "
                    "the whole GT_size crop"),
    "queue_size": _opt("int", 180, "pairs in Real-ESRGAN's pool mixing degradations across batches (a multiple of "
                       "the per-process batch); 0: no pool", nullable=False),
}

NETWORK_G = {
    "which_model_G": _opt("str", "RRDBNet", "RRDBNet: EDL dual-branch generator; RRDB: plain ESRGAN RRDBNet; or an "
                          "import path module:Class, whose other network_G keys are its keyword arguments",
                          choices=("RRDBNet", "RRDB"), nullable=False, import_path=True),
    "in_nc": _size(3, "input channels"),
    "out_nc": _size(3, "output channels"),
    "nf": _size(64, "trunk feature channels"),
    "nb": _size(23, "number of RRDB blocks"),
    "gc": _size(32, "growth channels inside dense blocks"),
    "upscale": _opt("int", None, "upscale factor; null means the top-level scale"),
    "global_residual": _opt("bool", False, "add the bicubic-upsampled input to the L1 branch y_1 (RRDBNet) or to y "
                            "(RRDB); not in the official network"),
}

NETWORK_D = {
    "which_model_D": _opt("str", "NLayerDiscriminator", "NLayerDiscriminator (PatchGAN) or discriminator_vgg_128; or "
                          "an import path module:Class, whose other network_D keys are its keyword arguments",
                          choices=("NLayerDiscriminator", "discriminator_vgg_128"), nullable=False, import_path=True),
    "in_nc": NETWORK_G["in_nc"],
    "nf": _size(64, "base feature channels"),
    "nlayer": _size(3, "strided layers of the PatchGAN"),
    "sync_bn": _opt("bool", False, "synchronise BatchNorm statistics across processes (DDP)"),
}

PATH = {
    "pretrain_model_G": _opt("str", None, "generator weights to start from"),
    "pretrain_model_D": _opt("str", None, "discriminator weights to start from"),
    "strict_load": _opt("bool", True, "require every key of the network in the loaded weights"),
    "resume_state": _opt("str", None, "training state (.state) to resume from"),
    "results_root": _opt("str", "results", "test results go to <results_root>/<name>/<dataset>"),
    "experiments_root": _opt("str", "experiments", "training outputs go to <experiments_root>/<name>"),
    "tb_logger_root": _opt("str", "tb_logger", "TensorBoard logs go to <tb_logger_root>/<name>"),
    "pretrained_backbones": _opt("str", None, "folder holding vgg19-dcbb9e9d.pth / alexnet-owt-7be5be79.pth; null: torch hub cache"),
}

TRAIN = {
    "lr_G": _opt("float", 1e-4, "generator learning rate", nullable=False),
    "weight_decay_G": _opt("float", 0.0, "generator weight decay"),
    "beta1_G": _opt("float", 0.9, "Adam beta1 (G)"),
    "beta2_G": _opt("float", 0.999, "Adam beta2 (G)"),
    "beta1": _opt("float", None, "Adam beta1 of model sr (official name); null: beta1_G"),
    "beta2": _opt("float", None, "Adam beta2 of model sr (official name); null: beta2_G"),
    "lr_D": _opt("float", 1e-4, "discriminator learning rate"),
    "weight_decay_D": _opt("float", 0.0, "discriminator weight decay"),
    "beta1_D": _opt("float", 0.9, "Adam beta1 (D)"),
    "beta2_D": _opt("float", 0.999, "Adam beta2 (D)"),
    "lr_scheme": _opt("str", "MultiStepLR", "MultiStepLR (with optional restarts) or CosineAnnealingLR_Restart",
                      choices=("MultiStepLR", "MultiStepLR_Restart", "CosineAnnealingLR_Restart")),
    "niter": _opt("int", REQUIRED, "total training iterations", nullable=False),
    "warmup_iter": _opt("int", -1, "linear warm-up iterations; -1 for none"),
    "lr_steps": _opt("list[int]", [], "MultiStepLR milestones (iterations)"),
    "lr_gamma": _opt("float", 0.5, "MultiStepLR decay factor"),
    "restarts": _opt("list[int]", None, "iterations at which the schedule restarts"),
    "restart_weights": _opt("list[float]", None, "learning-rate multipliers at each restart"),
    "clear_state": _opt("bool", False, "MultiStepLR restarts also empty the optimiser state (Adam moments)"),
    "T_period": _opt("list[int]", None, "cosine periods (CosineAnnealingLR_Restart)"),
    "eta_min": _opt("float", 1e-7, "minimum learning rate of the cosine schedule"),
    "pixel_criterion": _opt("str", "l1", "pixel loss on the L1 branch y_1", choices=("l1", "l2", "charbonnier")),
    "pixel_weight": _opt("float", 1e-2, "pixel loss weight; 0 disables"),
    "feature_criterion": _opt("str", "l1", "VGG feature distance (l1, l2) or lpips", choices=("l1", "l2", "lpips")),
    "feature_weight": _opt("float", 1.0, "feature loss weight; 0 disables"),
    "feature_layer": _opt("str", "conv5_4", "VGG19 layer (before its ReLU) for the feature loss"),
    "feature_pretrained": _opt("bool", True, "false: random VGG/LPIPS weights (smoke tests, CPU demo only)"),
    "gan_type": _opt("str", "ragan", "adversarial loss", choices=("gan", "ragan", "lsgan", "wgan-gp")),
    "gan_weight": _opt("float", 5e-3, "adversarial loss weight; 0 disables D"),
    "gp_weight": _opt("float", 10.0, "gradient penalty weight (wgan-gp)"),
    "cr_weight": _opt("float", None, "weight of the exclusionary term of srgan_al / srgan_an / srgan_r (null: "
                      "1e-3); unused by srgan"),
    "align_weight": _opt("float", None, "weight A of the align term A*(pix2 - fea)^2; null: 0.01 for srgan_al and "
                         "srgan_an (as compiled), 0 for srgan and srgan_r"),
    "exclusion_weight": _opt("float", 0.0, "gradient-exclusion loss weight (this project's extension; 0 = off)"),
    "exclusion_scales": _opt("int", 3, "number of scales of the exclusionary loss"),
    "D_update_ratio": _opt("int", 1, "update G every D_update_ratio iterations"),
    "D_init_iters": _opt("int", 0, "iterations training only D at the start"),
    "manual_seed": _opt("int", None, "seed of every random generator; null picks one and logs it"),
    "val_freq": _opt("int", 5000, "validate every val_freq iterations"),
    "ema_decay": _opt("float", 0.0, "EMA of G weights (e.g. 0.999); 0 disables"),
    "grad_clip": _opt("float", 0.0, "clip gradient norm of G and D; 0 disables"),
    "amp": _opt("str", None, "mixed precision: fp16 (CUDA, with a GradScaler) or bf16 (CUDA or CPU; on a 2-core "
                "CPU with AVX512-BF16 a step took 0.67x the fp32 time, with other rounding); null for fp32",
                choices=("fp16", "bf16")),
    "channels_last": _opt("bool", False, "channels_last memory format on CUDA"),
    "cudnn_benchmark": _opt("bool", True, "let cuDNN time its algorithms for the fixed-size training crops (CUDA; "
                            "off during validation, whose image sizes vary); false for run-to-run identical bits"),
    "preemption_signals": _opt("list[str]", ["SIGTERM", "SIGUSR1"], "signals that stop training after the current "
                               "iteration with a training state saved at it (exit code 75; resume with "
                               "--auto_resume); [] keeps their default action",
                               choices=("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGHUP")),
    "losses": _opt("list[map]", [], "extra weighted generator loss terms, added to every model's objective: a list "
                   "of train.losses[] entries (below)"),
}

# Keyword arguments of each registered class (rwsr.archs.registry, rwsr.losses.registry). The option
# reference lists them; tests/test_registry.py checks them against the constructors. The architectures
# take the network_G / network_D keys above; the losses take these keys inside a train.losses entry.
GENERATOR_ARGUMENTS = {
    "RRDBNet": ("in_nc", "out_nc", "nf", "nb", "gc", "upscale", "global_residual"),
    "RRDB": ("in_nc", "out_nc", "nf", "nb", "gc", "upscale", "global_residual"),
}
DISCRIMINATOR_ARGUMENTS = {"NLayerDiscriminator": ("in_nc", "nf", "nlayer"), "discriminator_vgg_128": ("in_nc", "nf")}
LOSS_ARGUMENTS = {
    "pixel": {"criterion": _opt("str", "l1", "distance", choices=("l1", "l2", "charbonnier"))},
    "feature": {
        "criterion": _opt("str", "l1", "distance of VGG19 features", choices=("l1", "l2")),
        "layer": _opt("str", "conv5_4", "VGG19 layer (before its ReLU)"),
        "pretrained": _opt("bool", None, "ImageNet weights; null: train.feature_pretrained"),
        "weights_dir": _opt("str", None, "folder of vgg19-dcbb9e9d.pth; null: path.pretrained_backbones"),
        "download": _opt("bool", True, "let torchvision download missing weights"),
    },
    "lpips": {
        "pretrained": _opt("bool", None, "AlexNet/LPIPS weights; null: train.feature_pretrained"),
        "weights_dir": _opt("str", None, "folder of alexnet-owt-7be5be79.pth; null: path.pretrained_backbones"),
        "download": _opt("bool", True, "let torchvision download missing weights"),
    },
    "exclusion": {"scales": _opt("int", 3, "number of scales; the loss takes (y_p, y_1), no output key")},
}

# One entry of train.losses; its other keys are the keyword arguments of the loss class.
LOSS_ENTRY = {
    "type": _opt("str", REQUIRED, "a registered loss (below) or an import path module:Class of a callable "
                 "loss(output, gt) -> scalar tensor", choices=LOSS_ARGUMENTS, nullable=False, import_path=True),
    "weight": _opt("float", REQUIRED, "the term added to the generator loss is weight * loss", nullable=False),
    "output": _opt("str", "y", "generator output compared with HR: y, or the EDL branches y_p, y_1 (losses taking "
                   "(y_p, y_1), as exclusion, need none)", choices=("y", "y_p", "y_1")),
    "name": _opt("str", None, "logged as l_g_<name>; null: the type's name (the class name for an import path)"),
}

VAL = {
    "metrics": _opt("list[str]", list(METRICS), "metrics of each validation (lpips needs AlexNet weights)",
                    choices=METRICS),
    "best_metric": _opt("str", None, "metric that chooses best_G (one of val.metrics); null: psnr for model sr; "
                        "lpips for GAN models when its AlexNet weights are available, else psnr (with a warning)",
                        choices=METRICS),
    "best_mode": _opt("str", None, "max or min; null: min for lpips, max otherwise", choices=("max", "min")),
    "best_dataset": _opt("str", None, "validation set (datasets key) that chooses best_G; null: the first"),
    "save_images": _opt("bool", True, "write each validation's SR images under val_images/"),
}

LOGGER = {
    "print_freq": _opt("int", 100, "log a line every print_freq iterations"),
    "save_checkpoint_freq": _opt("int", 5000, "save networks and training state every N iterations"),
    "keep_last": _opt("int", 5, "training states (training_state/<iter>.state) to keep; 0 keeps all; network "
                      "snapshots are pruned only by keep_last_models"),
    "keep_last_models": _opt("int", 0, "network snapshots (models/<iter>_G, _D, _G_ema) to keep besides those a kept "
                             "training state needs; 0 keeps all"),
    "save_format": _opt("str", "pth", "generator checkpoint format", choices=("pth", "safetensors")),
}

TEST = {
    "tile": _opt("int", 0, "tile size on the LR image; 0 processes whole images"),
    "tile_pad": _opt("int", 16, "overlap around each tile (LR pixels)"),
    "ensemble": _opt("bool", False, "x8 self-ensemble (flips and rotations)"),
    "back_projection": _opt("bool", False, "iterative back-projection of the output (official option)"),
    "back_projection_iters": _opt("int", 1, "back-projection iterations when back_projection is on"),
    "back_projection_lamda": _opt("float", 1.0, "weight of each back-projection correction (official name)"),
    "tile_batch": _opt("int", 0, "tiles per forward batch; 0 picks (free GPU memory on CUDA, 1 on CPU)"),
    "compile": _opt("bool", False, "torch.compile the generator (pays off with --tile: one shape, compiled once)"),
    "half": _opt("bool", False, "fp16 autocast on CUDA; bf16 on the CPU: OpenVINO's bf16 inference precision "
                 "(backend auto/openvino, where the CPU has bf16) or PyTorch's bf16 autocast (see docs/inference.md)"),
    "fp32": _opt("bool", False, "every layer in fp32 on the CPU (default there, where the CPU has native bf16: "
                 "OpenVINO runs the LR trunk of the EDL generator in bf16, checked within one 8-bit level; "
                 "docs/inference.md)"),
    "save_ext": _opt("str", "png", "output image format (png and tif keep 16 bits and alpha, webp alpha, "
                     "lossless)", choices=("png", "jpg", "webp", "tif")),
}

SECTIONS = {
    "network_G": NETWORK_G,
    "network_D": NETWORK_D,
    "path": PATH,
    "train": TRAIN,
    "val": VAL,
    "logger": LOGGER,
    "test": TEST,
    "degradation": DEGRADATION,
}

def with_defaults(table, values):
    """values (a possibly partial section) with the schema's defaults filled in for missing keys."""
    filled = {key: spec.default for key, spec in table.items() if spec.default is not REQUIRED}
    filled.update(values)
    return filled


# `datasets` maps free names (train, val, test_1, ...) to DATASET tables.
DATASETS_KEY = "datasets"
