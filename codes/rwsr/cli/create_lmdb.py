"""`rwsr-create-lmdb` / `python preprocess/create_lmdb.py`: pack a folder of images into an LMDB.

    python preprocess/create_lmdb.py --input DIR --output NAME.lmdb [--workers N] [--overwrite]

Images are stored as PNG bytes under their path relative to DIR without
extension, and `meta_info.txt` lists `key<TAB>H<TAB>W<TAB>C` (rwsr.prep.lmdb_packing).
Point `dataroot_GT` / `dataroot_LQ` at the .lmdb folder to train from it.
"""
import sys

from .arguments import OneLineArgumentParser, add_run_arguments, preparation_main


def build_parser():
    parser = OneLineArgumentParser(prog="create_lmdb.py", description="Pack a folder of images into an LMDB.")
    parser.add_argument("--input", required=True, help="folder of images (read recursively)")
    parser.add_argument("--output", required=True, help="LMDB folder to create, named *.lmdb")
    add_run_arguments(parser, workers_help="processes encoding images (default: 1)",
                      overwrite_help="replace an existing LMDB at --output")
    return parser


def run(args):
    from ..prep.lmdb_packing import create_lmdb  # numpy loads here, after the BLAS limit

    create_lmdb(args.input, args.output, workers=args.workers, overwrite=args.overwrite)


main = preparation_main(build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
