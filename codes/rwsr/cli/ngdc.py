"""`rwsr-ngdc` / `python preprocess/ngdc.py`: noise-guided data collection into a training list.

    python preprocess/ngdc.py --primary_gt HR_DIR [--primary_lq LR_DIR] --aux AUX_HR_DIR \
        --noise NOISE_DIR --output LIST.txt [--share 0.25] [--scale 4] [--margin 0.5] \
        [--gt_size 0] [--seed 0] [--workers 1] [--overwrite]

Every auxiliary image's noise level is estimated on its bicubic LR and
compared with the noise pool's level; images at most `--margin` times the
pool's level are eligible, lowest noise first (rwsr.prep.ngdc). The list keeps
the primary set's length N: round(share * N) lines are the best eligible
auxiliary images (LR made on the fly), the others a seeded random subset of
the primary pairs. Train on it with `datasets.train.train_list: LIST.txt`;
`<list stem>_ranking.csv` beside the list reports every auxiliary image.
"""
import sys

from .arguments import OneLineArgumentParser, add_run_arguments, preparation_main


def build_parser():
    parser = OneLineArgumentParser(
        prog="ngdc.py", description="Noise-guided data collection: mix auxiliary clean HR images into a training list.")
    parser.add_argument("--primary_gt", required=True, help="folder of the primary HR images")
    parser.add_argument("--primary_lq", help="folder of their LR images (same names); omitted: LR made on the fly")
    parser.add_argument("--aux", required=True, help="folder of auxiliary clean HR images (searched recursively)")
    parser.add_argument("--noise", required=True, help="noise patch folder (preprocess/collect_noise.py)")
    parser.add_argument("--output", required=True, help="training list to write, e.g. datasets/ngdc/train.txt")
    parser.add_argument("--share", type=float, default=0.25,
                        help="fraction of each epoch given to auxiliary images, in [0, 1] (default: 0.25)")
    parser.add_argument("--scale", type=int, default=4, help="super-resolution scale (default: 4)")
    parser.add_argument("--margin", type=float, default=0.5,
                        help="eligible when the LR noise level is at most margin x the pool's (default: 0.5)")
    parser.add_argument("--gt_size", type=int, default=0,
                        help="skip auxiliary images smaller than this (the training crop GT_size; default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the subset of primary pairs (default: 0)")
    add_run_arguments(parser, workers_help="processes working in parallel (default: 1)",
                      overwrite_help="replace an existing list and ranking")
    return parser


def run(args):
    from ..prep.ngdc_list import NgdcSettings, make_ngdc_list  # numpy loads here, after the BLAS limit

    make_ngdc_list(NgdcSettings(**vars(args)))


main = preparation_main(build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
