"""One BLAS thread per process for the data-preparation commands.

`--workers N` decides how many cores work; without this, N worker processes
would each start a BLAS pool as large as the machine (N x cores threads).
"""
import os
import sys

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads():
    """Ask for one BLAS thread unless the environment says otherwise.

    It only takes effect before numpy loads its BLAS, so a process that already
    has numpy (a test, a notebook) is left alone.
    """
    if "numpy" in sys.modules:
        return
    for variable in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
