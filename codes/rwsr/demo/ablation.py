"""`make ablation` / `make ablation-pretrain`: the EDL loss variants against plain ESRGAN, on the demo's data;
`make ablation-degradations`: the degradation model of the training LR (paired + noise, on the fly, both).

Seven arms (options/ablation/<arm>.yml, identical but for the model, the generator and the
align / exclusion weights) train from the same start checkpoint, data, seed and number of
iterations through train.py, are evaluated on the held-out photos with the Python API behind test.py, and end up
in one table (figures/ablation.md) and one crop figure (figures/ablation.png). Every row keeps
a run record (rwsr.demo.run_records): finished rows are skipped, unfinished arms resume.
"""
import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from typing import Optional, Tuple

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text, is_inside
from ..utils.image_io import image_stem, list_images, read_image_uint8
from .ablation_report import describe_run, format_table, plot_crops, training_timing, write_report
from .run_records import DONE, NEW, record_status, write_record
from .scripts import REPO, SCALE, prepare_data, saved_generators, store_final_generator, test_model
from .stages import StageProgress
from .train_progress import train_with_bar

OPTIONS_DIR = os.path.join("options", "ablation")
PRETRAIN_OPTIONS = os.path.join(OPTIONS_DIR, "pretrain_rrdb_psnr.yml")
START_MODEL = os.path.join(OPTIONS_DIR, "rrdb_psnr_x4.safetensors")
RESULTS_ROOT = os.path.join("results", "ablation")
REPORT = os.path.join("figures", "ablation.md")
FIGURE = os.path.join("figures", "ablation.png")


@dataclass(frozen=True)
class Arm:
    key: str          # options/ablation/<key>.yml, results/ablation/<key>/
    description: str  # what differs, for the table

    @property
    def options_file(self):
        return os.path.join(OPTIONS_DIR, f"{self.key}.yml")


ARMS = (
    Arm("esrgan", "plain RRDB (`which_model_G: RRDB`), `srgan`: pix + fea + gan on y"),
    Arm("edl_srgan", "EDL generator, `srgan` as published: pix2 + fea + gan1"),
    Arm("edl_srgan_align", "EDL, `srgan` + align 0.01·(pix2 − fea)²"),
    Arm("edl_srgan_al", "EDL, `srgan_al` (cr 1e-3, align 0.01)"),
    Arm("edl_srgan_an", "EDL, `srgan_an` (cr 1e-3, align 0.01)"),
    Arm("edl_srgan_r", "EDL, `srgan_r` (cr 1e-3)"),
    Arm("edl_exclusion", "EDL, `srgan` + gradient exclusion 0.01"),
)
ARM_KEYS = tuple(arm.key for arm in ARMS)

# `make ablation-degradations`: the degradation model at the same budget (edl_srgan is shared with the loss study).
DEGRADATION_ARMS = (
    Arm("edl_srgan", "paired MATLAB-bicubic LR + collected noise injection (the project's model so far)"),
    Arm("edl_degradations", "LR made on the fly by Real-ESRGAN's second-order degradations"),
    Arm("edl_degradations_noise", "Real-ESRGAN's degradations, then the collected noise injection"),
)


@dataclass(frozen=True)
class Study:
    title: str
    arms: Tuple[Arm, ...]
    report: str
    figure: str
    summary: str


STUDIES = {
    "losses": Study("Ablation: EDL loss variants against plain ESRGAN", ARMS, REPORT, FIGURE, "summary.json"),
    "degradations": Study("Ablation: degradation models of the training LR (EDL, srgan)", DEGRADATION_ARMS,
                          os.path.join("figures", "ablation_degradations.md"),
                          os.path.join("figures", "ablation_degradations.png"), "summary_degradations.json"),
}
ALL_ARM_KEYS = tuple(dict.fromkeys(arm.key for study in STUDIES.values() for arm in study.arms))


@dataclass(frozen=True)
class AblationSettings:
    """What the command line chose; the defaults are `make ablation`."""
    iters: Optional[int] = None             # train.niter of every arm; None: the option files' value
    overrides: Tuple[str, ...] = ()         # --set KEY=VALUE for every arm's train.py
    start_model: Optional[str] = None       # None: the option files' path.pretrain_model_G
    test_lr: Optional[str] = None           # None: the demo's held-out photos
    test_hr: Optional[str] = None
    arms: Tuple[str, ...] = ARM_KEYS
    overwrite: bool = False
    command: str = "make ablation"
    study: str = "losses"                   # a key of STUDIES: which arms, table and figure

    def train_overrides(self):
        """Budget and start model first, then the user's --set (which wins)."""
        overrides = list(budget_overrides(self.iters)) if self.iters is not None else []
        if self.start_model:
            overrides.append(f"path.pretrain_model_G={self.start_model}")
        return overrides + list(self.overrides)


def budget_overrides(iters):
    """train.niter = iters; a log line (progress bar step) every 1% and a checkpoint every 1/8 of it.

    Floors of 5 and 50 as in the option files; 20000 iterations give the official 200 and 2500.
    """
    if iters < 1:
        raise RwsrError(f"--iters {iters}: need at least 1 iteration", exit_code=2)
    return (f"train.niter={iters}", f"logger.print_freq={min(iters, max(5, iters // 100))}",
            f"logger.save_checkpoint_freq={min(iters, max(50, iters // 8))}")


def study_arms(settings):
    """The arms of the settings' study that were selected, in the study's order."""
    return [arm for arm in STUDIES[settings.study].arms if arm.key in settings.arms]


def check_settings(settings):
    valid = [arm.key for arm in STUDIES[settings.study].arms]
    unknown = [key for key in settings.arms if key not in valid]
    if unknown:
        raise RwsrError(f"--arms {' '.join(unknown)}: unknown arm; valid: {', '.join(valid)}", exit_code=2)
    if (settings.test_lr is None) != (settings.test_hr is None):
        raise RwsrError("--test_lr and --test_hr go together (held-out LR images and their HR truth)", exit_code=2)
    for folder in (settings.test_lr, settings.test_hr):
        if folder is not None and not os.path.isdir(folder):
            raise RwsrError(f"{folder}: held-out folder not found", exit_code=2)
    start = settings.start_model or START_MODEL
    if not os.path.isfile(os.path.join(REPO, start)):
        hint = "; run `make ablation-pretrain` to train it (see README)" if start == START_MODEL else ""
        raise RwsrError(f"{start}: start checkpoint not found{hint}")
    from ..options import load_options
    overrides = settings.train_overrides()  # a bad --iters or --set stops here, before any work
    for arm in study_arms(settings):
        load_options(os.path.join(REPO, arm.options_file), overrides)


# ---------------------------------------------------------------- evaluation of one result folder
def result_of(images_dir, hr_dir):
    """Mean metrics test.py wrote (metrics.json) and the mean gradient energy of the outputs."""
    from ..metrics.sharpness import mean_gradient_energy
    with open(os.path.join(images_dir, "metrics.json"), encoding="utf-8") as handle:
        mean = json.load(handle)["mean"]
    result = {key: mean.get(key) for key in ("psnr", "ssim", "psnr_y", "ssim_y", "lpips")}
    result["gradient_energy"] = mean_energy(images_dir, [image_stem(p) for p in list_images(hr_dir)],
                                            mean_gradient_energy)
    return result


def mean_energy(folder, stems, energy):
    values = []
    for stem in stems:
        path = os.path.join(folder, f"{stem}.png")
        if not os.path.isfile(path):
            raise RwsrError(f"{path}: missing result for held-out image {stem}")
        values.append(energy(read_image_uint8(path)))
    return sum(values) / len(values)


def fingerprint(path):
    """Short SHA-256 of a file: a rerun after the option file or the start model changed is not skipped."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_average():
    """5-minute load average when an arm's training ends: s / iteration is only comparable at similar load."""
    try:
        return round(os.getloadavg()[1], 2)
    except (AttributeError, OSError):  # not available on every platform
        return None


def _portable(path):
    """Paths inside the repository are recorded relative to it, so a moved clone still matches its records."""
    return os.path.relpath(path, REPO) if is_inside(path, REPO) else os.path.abspath(path)


def _start_fingerprint(path):
    return fingerprint(os.path.join(REPO, path)) if path else None


# ---------------------------------------------------------------- rows of the table
class Ablation:
    def __init__(self, settings):
        self.settings = settings
        self.results_root = os.path.join(REPO, RESULTS_ROOT)
        self.lr_dir, self.hr_dir = settings.test_lr, settings.test_hr

    def held_out_settings(self):
        return {"test_LR": _portable(self.lr_dir), "test_HR": _portable(self.hr_dir)}

    def bicubic_row(self):
        from .evaluation import bicubic_baseline
        folder = os.path.join(self.results_root, "bicubic")
        settings = self.held_out_settings()
        if record_status(folder, settings, self.settings.overwrite) != DONE:
            write_record(folder, settings)
            bicubic_baseline(self.lr_dir, self.hr_dir, os.path.join(folder, "images"), SCALE)
            write_record(folder, settings, result_of(os.path.join(folder, "images"), self.hr_dir))
        return folder

    def start_model_row(self):
        start = self.settings.start_model or START_MODEL
        folder = os.path.join(self.results_root, "start_model")
        settings = dict(self.held_out_settings(), model=start, model_sha256=fingerprint(os.path.join(REPO, start)))
        if record_status(folder, settings, self.settings.overwrite) != DONE:
            write_record(folder, settings)
            test_model(os.path.join(REPO, start), os.path.join(folder, "images"), self.lr_dir, self.hr_dir,
                       quiet=True)
            write_record(folder, settings, result_of(os.path.join(folder, "images"), self.hr_dir))
        return folder

    def arm_row(self, arm):
        """Train (or resume, or skip) one arm and evaluate it; returns its result folder."""
        from ..options import load_options
        overrides = self.settings.train_overrides()
        opt = load_options(os.path.join(REPO, arm.options_file), overrides)
        niter = opt["train"]["niter"]
        experiment = os.path.join(REPO, opt["path"]["experiments_root"], opt["name"])
        folder = os.path.join(self.results_root, arm.key)
        settings = dict(self.held_out_settings(), options=arm.options_file, overrides=overrides,
                        options_sha256=fingerprint(os.path.join(REPO, arm.options_file)),
                        start_model_sha256=_start_fingerprint(opt["path"]["pretrain_model_G"]))
        status = record_status(folder, settings, self.settings.overwrite)
        if status == DONE:
            print(f"{arm.key}: finished earlier with the same settings; kept ({folder})")
            return folder
        write_record(folder, settings)
        load = None
        if status == NEW or niter not in saved_generators(experiment):
            # NEW: train.py archives any old experiment folder; PARTIAL: continue where it stopped.
            train_with_bar(arm.key, niter, arm.options_file, *overrides, auto_resume=status != NEW)
            load = load_average()
        model = saved_generators(experiment).get(niter)
        if model is None:
            raise RwsrError(f"{experiment}: training ended without a generator of iteration {niter}")
        print(f"{arm.key}: testing {os.path.relpath(model, REPO)} on the held-out images", flush=True)
        images = os.path.join(folder, "images")
        test_model(model, images, self.lr_dir, self.hr_dir, quiet=True)
        result = dict(result_of(images, self.hr_dir), iterations=niter, load_average=load,
                      **training_timing(os.path.join(experiment, "train.log")))
        write_record(folder, settings, result)
        return folder


def _read_result(folder):
    with open(os.path.join(folder, "run.json"), encoding="utf-8") as handle:
        return json.load(handle)["result"]


def run_ablation(settings):
    """The whole ablation: data, bicubic and start model, each arm, then table and figure. Returns 0."""
    check_settings(settings)
    began = time.monotonic()
    arms = study_arms(settings)
    progress = StageProgress(["prepare data", "bicubic and start model"] + [f"arm {arm.key}" for arm in arms]
                             + ["table and figure"])
    if settings.test_lr is None:
        paths = progress.run("prepare data", prepare_data)
        settings = _with_held_out(settings, paths["test_LR"], paths["test_HR"])
    ablation = Ablation(settings)
    rows = progress.run("bicubic and start model",
                        lambda: [("bicubic", "MATLAB bicubic x4", ablation.bicubic_row()),
                                 ("start model", "plain RRDB PSNR model every arm starts from",
                                  ablation.start_model_row())])
    for arm in arms:
        rows.append((arm.key, arm.description, progress.run(f"arm {arm.key}", ablation.arm_row, arm)))
    progress.run("table and figure", write_outputs, settings, rows)
    print(f"ablation finished in {(time.monotonic() - began) / 60:.1f} min (this invocation)")
    return 0


def _with_held_out(settings, lr_dir, hr_dir):
    return replace(settings, test_lr=lr_dir, test_hr=hr_dir)


def budget_of(settings):
    """The shared training budget as the first selected arm's resolved options say (all arms share it)."""
    from ..options import load_options
    arm = study_arms(settings)[0]
    opt = load_options(os.path.join(REPO, arm.options_file), settings.train_overrides())
    train_set, net = opt["datasets"]["train"], opt["network_G"]
    return {"iterations": opt["train"]["niter"], "batch_size": train_set["batch_size"], "GT_size": train_set["GT_size"],
            "nf": net["nf"], "nb": net["nb"], "seed": opt["train"]["manual_seed"], "lr_G": opt["train"]["lr_G"],
            "start_model": opt["path"]["pretrain_model_G"], "feature_layer": opt["train"]["feature_layer"],
            "feature_pretrained": opt["train"]["feature_pretrained"]}


def machine_of():
    import torch
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU only, {os.cpu_count()} cores"


def write_outputs(settings, rows):
    from ..metrics.sharpness import mean_gradient_energy
    results = [(method, description, _read_result(folder)) for method, description, folder in rows]
    stems = [image_stem(p) for p in list_images(settings.test_hr)]
    hr_energy = mean_energy(settings.test_hr, stems, mean_gradient_energy)
    table = format_table(results)
    study = STUDIES[settings.study]
    paragraphs = describe_run(settings.command, budget_of(settings), results, hr_energy, stems, machine_of())
    text = write_report(os.path.join(REPO, study.report), study.title, table, paragraphs)
    atomic_write_text(os.path.join(REPO, RESULTS_ROOT, study.summary),
                      json.dumps({"hr_gradient_energy": hr_energy,
                                  "rows": [{"method": m, "what": d, **r} for m, d, r in results]}, indent=2) + "\n")
    panels = [(method, os.path.join(folder, "images")) for method, _, folder in rows]
    plot_crops(panels, stems[0], settings.test_hr, os.path.join(REPO, study.figure), SCALE)
    print("\n" + table + f"\n\nwritten: {study.report}, {study.figure}, {RESULTS_ROOT}/{study.summary}")
    return text


def run_pretrain(overrides=()):
    """The plain RRDB PSNR model every arm starts from (as RRDB_PSNR_x4.pth in the official recipe)."""
    from ..options import load_options
    opt = load_options(os.path.join(REPO, PRETRAIN_OPTIONS), list(overrides))
    experiment = os.path.join(REPO, opt["path"]["experiments_root"], opt["name"])
    progress = StageProgress(["prepare data", "train the RRDB PSNR model", "store the checkpoint"])
    progress.run("prepare data", prepare_data)
    progress.run("train the RRDB PSNR model", train_with_bar, "RRDB PSNR", opt["train"]["niter"],
                 PRETRAIN_OPTIONS, *overrides)
    progress.run("store the checkpoint", store_final_generator, experiment, START_MODEL, PRETRAIN_OPTIONS)
    return 0
