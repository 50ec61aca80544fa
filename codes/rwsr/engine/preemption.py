"""Stop signals: clusters preempt with SIGTERM (Slurm: `--signal=USR1@90` warns ahead).

A signal only records that it came; the training loop asks after every iteration, all
processes agree (one all-reduce of the flag, so every rank stops after the same iteration),
and training then writes a training state at that iteration and exits with
PREEMPTED_EXIT_CODE. A second signal during that save changes nothing.
"""
import signal
import threading

# EX_TEMPFAIL of sysexits.h: "try again later" -- a job script requeues on it (docs/training.md).
PREEMPTED_EXIT_CODE = 75


class StopSignals:
    """Context manager catching the signals named in train.preemption_signals."""

    def __init__(self, names):
        self.signals = [getattr(signal, name) for name in names or ()]
        self.received = None  # name of the first signal this process received
        self.agreed = False  # every process knows that one of them received a signal
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # Python handles signals there only
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _record(self, signum, frame):
        if self.received is None:
            self.received = signal.Signals(signum).name

    def agree(self, runtime):
        """True on every process when any process received a stop signal (a collective)."""
        self.agreed = runtime.any_rank(self.received is not None)
        return self.agreed
