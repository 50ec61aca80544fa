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


def _opt(kind, default, doc, choices=None, nullable=True):
    return Opt(kind, default, doc, tuple(choices) if choices else None, nullable)


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
    "scale": _opt("int", 4, "super-resolution factor", choices=(2, 4), nullable=False),
    "gpu_ids": _opt("list[int]", None, "GPUs to use (official files); sets CUDA_VISIBLE_DEVICES when not launched by torchrun"),
    "suffix": _opt("str", None, "suffix appended to saved result names (test)"),
    "crop_border": _opt("int", None, "border cropped before PSNR/SSIM; null means scale"),
    "device": _opt("str", "auto", "auto (CUDA when available), cpu or cuda", choices=("auto", "cpu", "cuda")),
}

DATASET = {
    "name": _opt("str", None, "dataset name used in logs and result folders"),
    "mode": _opt("str", "LQGT", "LQGT: HR/LR pairs; LR: LR images only (test)", choices=("LQGT", "LR")),
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

NETWORK_G = {
    "which_model_G": _opt("str", "RRDBNet", "RRDBNet: EDL dual-branch generator; RRDB: plain ESRGAN RRDBNet",
                          choices=("RRDBNet", "RRDB"), nullable=False),
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
    "which_model_D": _opt("str", "NLayerDiscriminator", "NLayerDiscriminator (PatchGAN) or discriminator_vgg_128",
                          choices=("NLayerDiscriminator", "discriminator_vgg_128"), nullable=False),
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
}

VAL = {
    "metrics": _opt("list[str]", list(METRICS), "metrics of each validation (lpips needs AlexNet weights)",
                    choices=METRICS),
    "best_metric": _opt("str", "psnr", "metric that chooses best_G (one of val.metrics)", choices=METRICS),
    "best_mode": _opt("str", None, "max or min; null: min for lpips, max otherwise", choices=("max", "min")),
    "best_dataset": _opt("str", None, "validation set (datasets key) that chooses best_G; null: the first"),
    "save_images": _opt("bool", True, "write each validation's SR images under val_images/"),
}

LOGGER = {
    "print_freq": _opt("int", 100, "log a line every print_freq iterations"),
    "save_checkpoint_freq": _opt("int", 5000, "save networks and training state every N iterations"),
    "keep_last": _opt("int", 5, "training states and checkpoints to keep; 0 keeps all"),
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
    "half": _opt("bool", False, "fp16 autocast on CUDA, bf16 autocast on the CPU (PyTorch backend; measured 2.9x "
                 "the fp32 forward on a 2-core CPU, outputs within 2 8-bit levels)"),
    "save_ext": _opt("str", "png", "output image format", choices=("png", "jpg")),
}

SECTIONS = {
    "network_G": NETWORK_G,
    "network_D": NETWORK_D,
    "path": PATH,
    "train": TRAIN,
    "val": VAL,
    "logger": LOGGER,
    "test": TEST,
}

def with_defaults(table, values):
    """values (a possibly partial section) with the schema's defaults filled in for missing keys."""
    filled = {key: spec.default for key, spec in table.items() if spec.default is not REQUIRED}
    filled.update(values)
    return filled


# `datasets` maps free names (train, val, test_1, ...) to DATASET tables.
DATASETS_KEY = "datasets"
