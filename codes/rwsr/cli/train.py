"""`rwsr-train` / `python codes/train.py -opt FILE`."""
import argparse
import logging
import os
import sys

from ..options import load_options
from ..options.paths import check_input_paths
from ..utils.errors import RwsrError, run_cli

DEBUG_FREQUENCIES = {"print_freq": ("logger", 1), "val_freq": ("train", 8), "save_checkpoint_freq": ("logger", 8)}


def build_parser():
    parser = argparse.ArgumentParser(prog="train.py", description="Train an RWSR-EDL model from an option file.")
    parser.add_argument("-opt", "--opt", required=True, help="path to the YAML option file")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override options, e.g. --set train.niter=100 datasets.train.batch_size=4")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="a module of yours that may be imported (adds to the option file's plugins:); modules "
                             "the option file names in an import path (module:Class) need no flag")
    parser.add_argument("--auto_resume", action="store_true",
                        help="resume from the newest readable training state of the experiment")
    parser.add_argument("--launcher", choices=("none", "pytorch"), default="none",
                        help="pytorch: one process per device under torchrun (distributed training)")
    parser.add_argument("--nproc", type=int, default=None, metavar="N",
                        help="start N training processes (DDP) as torchrun --nproc_per_node=N would; on the CPU "
                             "they use gloo. Without it, gpu_ids listing N > 1 GPUs starts N processes")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dry_run", action="store_true",
                        help="check options, data, networks and resume state, then exit without training")
    parser.add_argument("--debug", action="store_true",
                        help="debug logging; log every iteration, validate and save every 8")
    return parser


def apply_debug(opt):
    for key, (section, value) in DEBUG_FREQUENCIES.items():
        opt[section][key] = value


@run_cli
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.nproc is not None and args.launcher != "none":
        raise RwsrError("--nproc starts the training processes itself; drop --launcher pytorch (or drop --nproc "
                        "and start with torchrun --nproc_per_node=N)", exit_code=2)
    if args.nproc is not None and args.nproc < 1:
        raise RwsrError(f"--nproc: {args.nproc} must be at least 1", exit_code=2)
    if args.local_rank is not None and "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)  # torch.distributed.launch passes it as an argument
    opt = load_options(args.opt, args.set, phase="train")
    opt["plugins"] = list(opt["plugins"]) + [name for name in args.plugin if name not in opt["plugins"]]
    if args.debug:
        apply_debug(opt)
    check_input_paths(opt)
    from ..engine import train  # torch is imported here
    return train(opt, argv, launcher=args.launcher, nproc=args.nproc, auto_resume=args.auto_resume,
                 dry_run=args.dry_run, level=logging.DEBUG if args.debug else logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
