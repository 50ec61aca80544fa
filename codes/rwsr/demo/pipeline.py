"""`make demo` / `make demo-pretrain`: the whole RWSR-EDL chain on bundled photos, on a CPU.

Every step runs the project's own user-facing scripts (create_bicubic_dataset,
collect_noise, train.py, test.py) as a user would, in subprocesses, so the demo
exercises exactly what the README documents.
"""
import json
import os
import shutil
import subprocess
import sys

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from .camera import build_camera_domain
from .stages import StageProgress

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DATA_ROOT = os.path.join("datasets", "demo")
RESULTS_ROOT = os.path.join("results", "demo")
TRAIN_OPTIONS = os.path.join("options", "demo", "train_demo.yml")
PRETRAIN_OPTIONS = os.path.join("options", "demo", "train_demo_psnr.yml")
PRETRAINED_G = os.path.join("options", "demo", "demo_psnr_x4.safetensors")
SCALE = 4
# collect_noise defaults (256 px, max_var 20) suit 2K photos; these photos are
# small, so tiles are 32 px with a 16 px stride, and JPEG blocks raise the
# variance of flat areas a little.
NOISE_ARGS = ("--patch_size", "32", "--stride", "16", "--max_var", "40")


def run_script(script, *args):
    """Run a project script from the repository root; stop the demo when it fails."""
    command = [sys.executable, os.path.join(REPO, script), *map(str, args)]
    result = subprocess.run(command, cwd=REPO)
    if result.returncode != 0:
        raise RwsrError(f"demo stopped: {script} exited with {result.returncode}")


def prepare_data():
    """Camera domain, HR/LR pairs and the noise pool under datasets/demo."""
    paths = build_camera_domain(os.path.join(REPO, DATA_ROOT))
    generated = os.path.join(REPO, DATA_ROOT, "generated", "tdsr")  # official folder names
    run_script("preprocess/create_bicubic_dataset.py", "--source", paths["source"], "--target", paths["target"],
               "--output", generated, "--cleanup_factor", 2, "--upscale_factor", SCALE)
    run_script("preprocess/collect_noise.py", "--source", paths["source"],
               "--output", os.path.join(REPO, DATA_ROOT, "Corrupted_noise"), *NOISE_ARGS, "--overwrite")
    return paths


def train(options_path, *overrides):
    args = ["-opt", options_path]
    if overrides:
        args += ["--set", *overrides]
    run_script("codes/train.py", *args)


def newest_generator(experiment):
    """Path of the last saved generator of an experiment (highest iteration)."""
    models = os.path.join(REPO, "experiments", experiment, "models")
    found = []
    for name in os.listdir(models) if os.path.isdir(models) else []:
        stem, ext = os.path.splitext(name)
        if stem.endswith("_G") and stem[:-2].isdigit() and ext in (".pth", ".safetensors"):
            found.append((int(stem[:-2]), os.path.join(models, name)))
    if not found:
        raise RwsrError(f"{models}: no generator checkpoint was saved")
    return max(found)[1]


def test_model(model_path, output_name, paths):
    output = os.path.join(REPO, RESULTS_ROOT, output_name)
    run_script("codes/test.py", "--model", model_path, "--input", paths["test_LR"], "--gt", paths["test_HR"],
               "--output", output, "--overwrite")
    return output


def _require_pretrained():
    path = os.path.join(REPO, PRETRAINED_G)
    if not os.path.isfile(path):
        raise RwsrError(f"{PRETRAINED_G} is missing; run `make demo-pretrain` to train it (see README)")
    return path


def run_demo():
    """Data -> EDL training from the shipped PSNR model -> held-out test -> metrics and figures."""
    from .evaluation import bicubic_baseline, format_comparison, mean_of_metrics_file, mean_of_records
    from .figures import plot_comparison, plot_curves

    start_model = _require_pretrained()
    progress = StageProgress(["prepare data", "train the EDL model", "test on held-out photos", "metrics and figures"])
    paths = progress.run("prepare data", prepare_data)
    progress.run("train the EDL model", train, TRAIN_OPTIONS)
    edl_model = newest_generator("demo_edl")

    def evaluate():
        bicubic = bicubic_baseline(paths["test_LR"], paths["test_HR"], os.path.join(REPO, RESULTS_ROOT, "bicubic"),
                                   SCALE)
        start_dir = test_model(start_model, "start_model", paths)
        edl_dir = test_model(edl_model, "edl_model", paths)
        return {"bicubic": mean_of_records(bicubic), "start_model": mean_of_metrics_file(start_dir),
                "model": mean_of_metrics_file(edl_dir)}

    summary = progress.run("test on held-out photos", evaluate)

    def report():
        results = os.path.join(REPO, RESULTS_ROOT)
        labels = {"bicubic": "bicubic", "start_model": "start: PSNR model (shipped)", "model": "EDL model (trained now)"}
        table = format_comparison({labels[key]: summary[key] for key in ("bicubic", "start_model", "model")})
        atomic_write_text(os.path.join(results, "metrics.json"), json.dumps(summary, indent=2) + "\n")
        atomic_write_text(os.path.join(results, "metrics.md"), table + "\n")
        log = os.path.join(REPO, "experiments", "demo_edl", "train.log")
        plot_curves(log, os.path.join(REPO, "figures", "demo_curves.png"), bicubic_psnr=summary["bicubic"]["psnr"])
        plot_comparison(paths["test_LR"], [("bicubic", os.path.join(results, "bicubic")),
                                           ("ours (EDL)", os.path.join(results, "edl_model"))],
                        paths["test_HR"], os.path.join(REPO, "figures", "demo_comparison.png"), SCALE)
        print("\nHeld-out photos (x4, degraded by the simulated camera):\n" + table)
        print(f"\nwritten: {RESULTS_ROOT}/metrics.json, figures/demo_comparison.png, figures/demo_curves.png")

    progress.run("metrics and figures", report)
    gain = summary["model"]["psnr"] - summary["bicubic"]["psnr"]
    print(f"EDL model vs bicubic: {gain:+.2f} dB PSNR")
    return 0


def run_pretrain():
    """PSNR-oriented pre-training (model: sr) whose result `make demo` starts from."""
    progress = StageProgress(["prepare data", "train the PSNR model", "store the checkpoint"])
    progress.run("prepare data", prepare_data)
    progress.run("train the PSNR model", train, PRETRAIN_OPTIONS)

    def store():
        source = newest_generator("demo_psnr")
        target = os.path.join(REPO, PRETRAINED_G)
        if not source.endswith(".safetensors"):
            raise RwsrError(f"{source}: expected a .safetensors generator (logger.save_format in {PRETRAIN_OPTIONS})")
        shutil.copyfile(source, target)
        print(f"stored {source} as {PRETRAINED_G}")

    progress.run("store the checkpoint", store)
    return 0
