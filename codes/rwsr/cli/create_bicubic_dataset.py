"""`rwsr-create-bicubic-dataset` / `python preprocess/create_bicubic_dataset.py`: HR/LR training pairs.

    python preprocess/create_bicubic_dataset.py --dataset df2k --artifacts tdsr
    python preprocess/create_bicubic_dataset.py --source SRC --target TGT --output OUT \
        [--cleanup_factor 2] [--upscale_factor 4] [--workers N] [--overwrite]

Source photos are cleaned up by --cleanup_factor, target photos used as they
are; both are cropped to a multiple of --upscale_factor and saved as HR, and
LR is their MATLAB bicubic downscale (rwsr.prep.bicubic_pairs). A rerun with
the same settings skips the pairs that already exist.
"""
import sys

from .arguments import OneLineArgumentParser, add_common_arguments, add_preset_arguments, preparation_main


def build_parser():
    parser = OneLineArgumentParser(prog="create_bicubic_dataset.py",
                                   description="Make HR/LR pairs: clean-up downscale of source photos, "
                                               "crop to a multiple of the scale, MATLAB bicubic LR.")
    add_preset_arguments(parser)
    parser.add_argument("--source", help="folder of source-domain photos (cleaned up by --cleanup_factor)")
    parser.add_argument("--target", help="folder of target-domain photos (used as they are)")
    parser.add_argument("--output", help="output folder; HR/ and LR/ are written inside it")
    parser.add_argument("--cleanup_factor", type=float, default=2.0,
                        help="downscaling factor that cleans up source photos (default: 2; 1 = none)")
    parser.add_argument("--upscale_factor", type=float, default=4,
                        help="super-resolution scale, a whole number (default: 4)")
    add_common_arguments(parser)
    return parser


def run(args):
    from ..prep.bicubic_dataset import create_bicubic_dataset  # numpy loads here, after the BLAS limit

    create_bicubic_dataset(source=args.source, target=args.target, output=args.output, dataset=args.dataset,
                           artifacts=args.artifacts, paths_file=args.paths, cleanup_factor=args.cleanup_factor,
                           upscale_factor=args.upscale_factor, workers=args.workers, overwrite=args.overwrite)


main = preparation_main(build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
