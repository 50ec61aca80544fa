"""Failure injection for the tests of failure handling and preemption; does nothing unless
RWSR_TEST_FAULT is set.

RWSR_TEST_FAULT="POINT:RANK:ITERATION:ACTION[,...]": when process RANK reaches POINT (step,
validation, resume, checkpoint, checkpoint_write) at ITERATION (* for any), ACTION happens:
`raise` raises a RuntimeError, a signal name (SIGTERM, SIGUSR1, ...) sends that signal to the
process itself.
"""
import os
import signal

VARIABLE = "RWSR_TEST_FAULT"


def inject(point, rank, iteration):
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    for item in spec.split(","):
        where, at_rank, at_iteration, action = item.split(":")
        if where != point or int(at_rank) != rank or at_iteration not in ("*", str(iteration)):
            continue
        if action == "raise":
            raise RuntimeError(f"injected failure in {point} at iteration {iteration}")
        os.kill(os.getpid(), getattr(signal, action))
