"""Network interpolation between the demo's PSNR model and an EDL model: figures/interpolation_strip.png.

`python figures/interpolation_strip.py` trains the demo's EDL model (options/demo/train_demo.yml,
the same run as `make demo`, or its first --niter iterations, under the experiment name
demo_edl_interp) unless --edl names a trained one, then super-resolves the held-out photos with (1 - alpha) PSNR + alpha EDL at each
alpha (test.py --interp, without writing the blend) and draws one crop per photo and alpha.
"""
import json
import os

from ..utils.fs import atomic_write_text
from .evaluation import mean_of_records
from .pipeline import PRETRAINED_G, TRAIN_OPTIONS, experiment_dir
from .scripts import REPO, SCALE, newest_generator, prepare_data, train

EXPERIMENT = "demo_edl_interp"
ALPHAS = (0.0, 0.5, 1.0)
FIGURE = os.path.join("figures", "interpolation_strip.png")
RESULTS = os.path.join("results", "interpolation")


def train_edl_model(niter=None):
    """The demo's EDL fine-tune of the shipped PSNR model (niter: fewer iterations than the demo's
    200); returns its last generator."""
    prepare_data()
    train(TRAIN_OPTIONS, f"name={EXPERIMENT}", *([f"train.niter={niter}"] if niter else []))
    return newest_generator(experiment_dir(EXPERIMENT))


def mean_sharpness(paths):
    """Mean gradient energy of the luma over images (the perceptual side of the knob; HR's is the target)."""
    from ..metrics.sharpness import mean_gradient_energy
    from ..utils.image_io import read_image

    return sum(mean_gradient_energy(read_image(path)) for path in paths) / len(paths)


def blend_results(psnr_model, edl_model, lr_dir, hr_dir, alphas=ALPHAS):
    """{alpha: (result folder, mean metrics + sharpness)} of the blends on the held-out photos."""
    from ..inference import super_resolve_folder

    results = {}
    for alpha in alphas:
        folder = os.path.join(REPO, RESULTS, f"alpha_{alpha:g}")
        result = super_resolve_folder(psnr_model, lr_dir, folder, gt=hr_dir, interp=(edl_model, alpha),
                                      overwrite=True, progress=False)
        metrics = mean_of_records(result.records)
        metrics["sharpness"] = mean_sharpness(sorted(result.written))
        results[alpha] = (folder, metrics)
    return results


def run_interpolation_strip(edl_model=None, niter=None):
    from .figures import plot_comparison

    psnr_model = os.path.join(REPO, PRETRAINED_G)
    edl_model = edl_model or train_edl_model(niter)
    paths = prepare_data() if not os.path.isdir(os.path.join(REPO, "datasets", "demo", "test_LR")) else {
        "test_LR": os.path.join(REPO, "datasets", "demo", "test_LR"),
        "test_HR": os.path.join(REPO, "datasets", "demo", "test_HR")}
    results = blend_results(psnr_model, edl_model, paths["test_LR"], paths["test_HR"])
    columns = [(f"alpha {alpha:g}" + {0.0: " (PSNR)", 1.0: " (EDL)"}.get(alpha, ""), folder)
               for alpha, (folder, _) in results.items()]
    plot_comparison(paths["test_LR"], columns, paths["test_HR"], os.path.join(REPO, FIGURE), SCALE)
    hr_sharpness = mean_sharpness(sorted(os.path.join(paths["test_HR"], name)
                                         for name in os.listdir(paths["test_HR"])))
    summary = {f"{alpha:g}": metrics for alpha, (_, metrics) in results.items()}
    summary["HR"] = {"sharpness": hr_sharpness}
    atomic_write_text(os.path.join(REPO, RESULTS, "metrics.json"), json.dumps(summary, indent=2) + "\n")
    print(f"PSNR model {PRETRAINED_G}, EDL model {os.path.relpath(edl_model, REPO)}")
    print(f"| alpha | PSNR (dB) | SSIM | LPIPS | sharpness (HR: {hr_sharpness:.1f}) |\n|---|---:|---:|---:|---:|")
    for alpha, (_, metrics) in results.items():
        lpips = f"{metrics['lpips']:.4f}" if metrics.get("lpips") is not None else "n/a"
        print(f"| {alpha:g} | {metrics['psnr']:.2f} | {metrics['ssim']:.4f} | {lpips} | {metrics['sharpness']:.1f} |")
    print(f"written: {FIGURE}, {RESULTS}/metrics.json")
    return 0
