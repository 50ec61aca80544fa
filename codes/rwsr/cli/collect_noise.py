"""`rwsr-collect-noise` / `python preprocess/collect_noise.py`: real noise patches from photos.

    python preprocess/collect_noise.py --dataset df2k --artifacts tdsr
    python preprocess/collect_noise.py --source DIR --output DIR \
        [--patch_size 256] [--max_var 20] [--min_mean 0] [--stride S] [--workers N] [--overwrite]

Flat, low-variance tiles of every photo are saved as `<stem>_<idx>.png` and
listed in `index.csv` (rwsr.prep.noise_patches); the training noise pool
(`datasets.train.noise_data`) reads the folder.
"""
import sys

from .arguments import OneLineArgumentParser, add_common_arguments, add_preset_arguments, preparation_main


def build_parser():
    parser = OneLineArgumentParser(prog="collect_noise.py",
                                   description="Collect flat, low-variance patches (real noise) from photos.")
    add_preset_arguments(parser)
    parser.add_argument("--source", help="folder of photos to take noise from")
    parser.add_argument("--output", help="folder for the patches (the training option noise_data)")
    parser.add_argument("--patch_size", type=int, help="tile side in pixels (default: 256 or the preset's)")
    parser.add_argument("--max_var", type=float, help="keep tiles whose gray variance is below this (default: 20)")
    parser.add_argument("--min_mean", type=float, help="keep tiles whose gray mean is above this (default: 0)")
    parser.add_argument("--stride", type=int, help="step between tiles (default: patch_size, no overlap)")
    add_common_arguments(parser)
    return parser


def run(args):
    from ..prep.noise_collection import collect_noise  # numpy loads here, after the BLAS limit

    collect_noise(source=args.source, output=args.output, dataset=args.dataset, artifacts=args.artifacts,
                  paths_file=args.paths, patch_size=args.patch_size, max_var=args.max_var, min_mean=args.min_mean,
                  stride=args.stride, workers=args.workers, overwrite=args.overwrite)


main = preparation_main(build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
