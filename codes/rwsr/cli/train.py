"""`rwsr-train` / `python codes/train.py -opt FILE`."""
import argparse
import sys

from ..options import dump_options, load_options
from ..options.paths import check_input_paths
from ..utils.errors import run_cli
from ..utils.experiment import prepare_experiment
from ..utils.logger import setup_logger


def build_parser():
    parser = argparse.ArgumentParser(prog="train.py", description="Train an RWSR-EDL model from an option file.")
    parser.add_argument("-opt", "--opt", required=True, help="path to the YAML option file")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override options, e.g. --set train.niter=100 datasets.train.batch_size=4")
    parser.add_argument("--auto_resume", action="store_true", help="resume from the newest training state")
    parser.add_argument("--launcher", choices=("none", "pytorch"), default="none",
                        help="pytorch: distributed training under torchrun")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dry_run", action="store_true", help="validate options and inputs, then exit")
    parser.add_argument("--debug", action="store_true", help="verbose logging, frequent logs and checkpoints")
    return parser


@run_cli
def main(argv=None):
    args = build_parser().parse_args(argv)
    opt = load_options(args.opt, args.set, phase="train")
    check_input_paths(opt)
    if args.dry_run:
        print(f"options OK: {args.opt} (experiment {opt['name']})")
        return 0
    paths, archived = prepare_experiment(opt, dump_options(opt), resume=args.auto_resume)
    logger = setup_logger(paths["log"])
    if archived:
        logger.info("existing experiment folder archived to %s", archived)
    logger.info("training is not implemented yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
