"""`rwsr.cli.ablation`: `make ablation` (python codes/ablation.py) and `make ablation-pretrain` (--pretrain)."""
import argparse
import os
import shlex
import sys

from ..demo.ablation import ALL_ARM_KEYS, STUDIES, AblationSettings, run_ablation, run_pretrain
from ..utils.errors import run_cli


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ablation.py", description="Train and compare plain ESRGAN and the EDL loss variants "
        "(options/ablation/) from one start checkpoint; writes figures/ablation.md and figures/ablation.png.",
        epilog="Finished arms are skipped and unfinished ones resume; results made with other settings are kept "
        "unless --overwrite. Real data on a GPU: --iters 20000 --set datasets.train.dataroot_GT=... "
        "datasets.train.dataroot_LQ=... datasets.train.noise_data=... --test_lr LR_DIR --test_hr HR_DIR.")
    parser.add_argument("--pretrain", action="store_true",
                        help="train the common start checkpoint instead (make ablation-pretrain)")
    parser.add_argument("--iters", type=int, help="iterations per arm (default: the option files' budget)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="option overrides passed to every train.py run, e.g. datasets.train.batch_size=16")
    parser.add_argument("--start_model", help="start checkpoint of every arm (default: the option files', "
                        "options/ablation/rrdb_psnr_x4.safetensors)")
    parser.add_argument("--test_lr", help="held-out LR folder (default: the demo's held-out photos; when given, "
                        "the demo data is not prepared: train on yours with --set)")
    parser.add_argument("--test_hr", help="HR truth of --test_lr")
    parser.add_argument("--study", choices=tuple(STUDIES), default="losses",
                        help="losses: the loss variants (figures/ablation.md); degradations: paired LR + noise, "
                        "on-the-fly degradations, both (figures/ablation_degradations.md, make ablation-degradations)")
    parser.add_argument("--arms", nargs="+", choices=ALL_ARM_KEYS, metavar="ARM",
                        help="arms of the study to run (default all: "
                        + "; ".join(f"{name}: {' '.join(arm.key for arm in study.arms)}"
                                    for name, study in STUDIES.items()) + ")")
    parser.add_argument("--overwrite", action="store_true",
                        help="archive results made with other settings and rerun them")
    return parser


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.pretrain:
        return run_pretrain(args.set)
    given = sys.argv[1:] if argv is None else list(argv)
    make_targets = {(): "make ablation", ("--study", "degradations"): "make ablation-degradations"}
    command = make_targets.get(tuple(given), "python codes/ablation.py " + shlex.join(given))
    arms = args.arms or [arm.key for arm in STUDIES[args.study].arms]
    absolute = {name: os.path.abspath(getattr(args, name)) if getattr(args, name) else None
                for name in ("start_model", "test_lr", "test_hr")}  # train.py and test.py run from the repository
    settings = AblationSettings(iters=args.iters, overrides=tuple(args.set), arms=tuple(arms), **absolute,
                                overwrite=args.overwrite, command=command, study=args.study)
    return run_ablation(settings)


if __name__ == "__main__":
    sys.exit(main())
