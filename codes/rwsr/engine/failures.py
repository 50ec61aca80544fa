"""A failure on one process ends every process, with the failing process's message.

Collectives wait for every rank: when one rank raises, the others would wait for the collective
timeout (30 minutes), or forever on NCCL. Every rank therefore connects to the rendezvous store
(MASTER_ADDR:MASTER_PORT, hosted by torchrun's agent or by rank 0) and
- posts the one-line message of its own failure there (the first message wins), and
- runs a watcher thread that, once a message is posted, prints it and ends the process
  (its main thread may be blocked inside a collective, where no Python exception reaches it).
Before exiting, every process says its message and waits briefly until all have said theirs (rank 0
may host the store; torchrun kills the remaining workers once one exits).
"""
import datetime
import os
import sys
import threading
import time
import traceback

import torch.distributed as dist

from ..runtime import PeerFailure
from ..utils.errors import RwsrError

POLL_SECONDS = 1.0
LEAVE_WAIT_SECONDS = 10.0  # a leaving process waits this long at most for the others to say their message


def describe(err):
    """The one-line message of an exception."""
    if isinstance(err, RwsrError):
        return str(err)
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


class FailureChannel:
    """This process's connection to the store: posts its own failure, watches for the others'."""

    def __init__(self, rank, world_size):
        self.rank, self.world_size = rank, world_size
        attempt = f"{os.environ.get('TORCHELASTIC_RUN_ID', 'run')}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', 0)}"
        self.key, self.leaving_key = f"rwsr/{attempt}/failure", f"rwsr/{attempt}/leaving"
        self.gone_key = f"rwsr/{attempt}/gone"
        self.store = self._connect()
        self._left = threading.Lock()  # held by whoever ends the process first: main thread or watcher
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="rwsr-failure-watcher", daemon=True)
        self._watcher.start()

    @staticmethod
    def _connect():
        return dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                             timeout=datetime.timedelta(seconds=30), wait_for_workers=False)

    def _watch(self):
        while not self._stop.wait(POLL_SECONDS):
            try:
                if not self.store.check([self.key]):
                    continue
                message = self.store.get(self.key).decode()
            except Exception:  # noqa: BLE001 - the store is gone: its host ended
                message = "process 0 (host of the rendezvous store) ended without a message"
            if self._stop.is_set() or not self._left.acquire(blocking=False):
                return  # the main thread is already leaving (or training ended normally)
            print(f"error: {message}", file=sys.stderr, flush=True)
            self._leave()
            os._exit(1)

    def report(self, err):
        """The exception this process ends with, after telling the others: a failure another process
        posted first is reported in its words; an unexpected exception as one line (after its traceback)."""
        self._stop.set()
        if not self._left.acquire(blocking=False):
            return err  # the watcher is ending the process already
        mine = f"process {self.rank} of {self.world_size} failed: {describe(err)}"
        posted = None
        try:
            if not isinstance(err, PeerFailure):
                self.store.compare_set(self.key, "", mine)
            posted = self.store.get(self.key).decode() if self.store.check([self.key]) else None
        except Exception:  # noqa: BLE001 - store gone: nothing more to tell
            pass
        if isinstance(err, KeyboardInterrupt):
            self._leave()
            return err
        if isinstance(err, RwsrError):
            final = err
        elif posted and posted != mine:
            final = PeerFailure(posted)  # e.g. "connection closed by peer" after another process failed
        else:
            traceback.print_exception(type(err), err, err.__traceback__)
            final = RwsrError(mine)
        # Said before leaving: torchrun kills the remaining workers as soon as one exits, and every
        # process waits in _leave until all have said theirs.
        print(f"error: {final}", file=sys.stderr, flush=True)
        final.printed = True  # run_cli does not print it again
        self._leave()
        return final

    def _leave(self):
        try:
            self.store.add(self.leaving_key, 1)
            # every process waits (at most LEAVE_WAIT_SECONDS): none exits, and so none is killed by
            # torchrun and no store host goes, before all have said their message
            deadline = time.monotonic() + LEAVE_WAIT_SECONDS
            while self.store.add(self.leaving_key, 0) < self.world_size and time.monotonic() < deadline:
                time.sleep(0.1)
            self.store.add(self.gone_key, 1)  # done with the store
            if self.rank == 0:  # it may host the store: it stays until nobody asks it anything
                while self.store.add(self.gone_key, 0) < self.world_size and time.monotonic() < deadline:
                    time.sleep(0.05)
        except Exception:  # noqa: BLE001
            pass

    def close(self):
        """Stop watching (before the final barrier, so that rank 0 ending is no longer a failure)."""
        self._stop.set()
        self._watcher.join()
