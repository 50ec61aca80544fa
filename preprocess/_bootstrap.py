"""Lets the scripts in this folder run from a clone without installing: puts ../codes on sys.path.

The commands themselves limit BLAS to one thread per process before numpy loads
(rwsr.utils.blas_threads), so --workers decides how many cores work.
"""
import os
import sys

CODES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "codes")
if CODES not in sys.path:
    sys.path.insert(0, CODES)
