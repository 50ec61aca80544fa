"""`make demo` / `make demo-pretrain`: the whole RWSR-EDL chain on bundled photos, on a CPU.

Every step runs the project's own user-facing commands as a user would (create_bicubic_dataset,
collect_noise and train.py in subprocesses, the held-out test through rwsr.inference's
super_resolve_folder), so the demo exercises exactly what the README documents.
"""
import json
import os

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write_text
from .scripts import REPO, SCALE, newest_generator, prepare_data, store_final_generator, test_model, train
from .stages import StageProgress

RESULTS_ROOT = os.path.join("results", "demo")
TRAIN_OPTIONS = os.path.join("options", "demo", "train_demo.yml")
PRETRAIN_OPTIONS = os.path.join("options", "demo", "train_demo_psnr.yml")
PRETRAINED_G = os.path.join("options", "demo", "demo_psnr_x4.safetensors")


def experiment_dir(name):
    return os.path.join(REPO, "experiments", name)


def evaluate_on_held_out(model_path, output_name, paths):
    return test_model(model_path, os.path.join(REPO, RESULTS_ROOT, output_name), paths["test_LR"], paths["test_HR"])


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
    edl_model = newest_generator(experiment_dir("demo_edl"))

    def evaluate():
        bicubic = bicubic_baseline(paths["test_LR"], paths["test_HR"], os.path.join(REPO, RESULTS_ROOT, "bicubic"),
                                   SCALE)
        start_dir = evaluate_on_held_out(start_model, "start_model", paths)
        edl_dir = evaluate_on_held_out(edl_model, "edl_model", paths)
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

    progress.run("store the checkpoint", store_final_generator, experiment_dir("demo_psnr"), PRETRAINED_G,
                 PRETRAIN_OPTIONS)
    return 0
