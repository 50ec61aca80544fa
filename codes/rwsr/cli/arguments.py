"""Argument parsing shared by the data-preparation commands."""
import argparse

from ..utils.blas_threads import limit_blas_threads
from ..utils.errors import RwsrError, run_cli


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one `error: ...` line (exit 2)."""

    def error(self, message):
        raise RwsrError(f"{message} (see {self.prog} --help)", exit_code=2)


def add_preset_arguments(parser):
    """--dataset and --artifacts: the preset form of a command."""
    parser.add_argument("--dataset", help="preset name in paths.yml (df2k, dped)")
    parser.add_argument("--artifacts", default="tdsr", help="preset kind in paths.yml (default: tdsr)")


def add_run_arguments(parser, workers_help="number of processes working in parallel (default: %(default)s)",
                      overwrite_help="replace results that already exist"):
    """--workers and --overwrite, with help texts that say what the command does with them."""
    parser.add_argument("--workers", type=int, default=1, help=workers_help)
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)


def add_common_arguments(parser):
    """--paths (None: the default presets file), --workers and --overwrite."""
    parser.add_argument("--paths", default=None,
                        help="YAML file with the --dataset presets (default: preprocess/paths.yml)")
    add_run_arguments(parser)


def parse_preparation_args(parser, argv):
    """Parse argv, then ask for one BLAS thread per process.

    The caller imports rwsr.prep (and so numpy) only after this: the limit
    only counts before numpy loads, and --help stays quick.
    """
    args = parser.parse_args(argv)
    limit_blas_threads()
    return args


def preparation_main(build_parser, run):
    """The `main(argv)` of a preparation command: parse, limit BLAS threads, run(args), exit 0.

    run imports rwsr.prep itself, so that numpy loads after the thread limit and --help stays quick.
    """
    @run_cli
    def main(argv=None):
        run(parse_preparation_args(build_parser(), argv))
        return 0

    return main
