"""Running one task per input file: worker processes, a progress bar, skips reported as they happen."""
import multiprocessing
import sys
from dataclasses import dataclass

from tqdm import tqdm

from ..utils.errors import RwsrError


@dataclass
class TaskResult:
    """What one worker call did to one input file."""
    path: str
    status: str  # "done", "existing" (finished by an earlier run) or "failed"
    message: str = ""
    payload: object = None


def check_workers(workers):
    if workers < 1:
        raise RwsrError(f"--workers {workers}: must be at least 1", exit_code=2)
    return workers


def guarded(function, path, *args):
    """Run function(path, *args); an unreadable image becomes a failed result, not a crash."""
    try:
        return function(path, *args)
    except RwsrError as err:
        return TaskResult(path, "failed", str(err))
    except OSError as err:
        return TaskResult(path, "failed", f"{path}: {err.strerror or err}")


def _call(job):
    function, path, args = job
    return guarded(function, path, *args)


def run_batch(function, paths, args, workers, desc, ordered=False):
    """Apply function(path, *args) to every path; yields TaskResults as they finish.

    Failures are reported on stderr as they happen (`skipped: <path>: <why>`).
    workers == 1 runs in this process, which keeps profiling and debugging simple.
    """
    jobs = [(function, path, args) for path in paths]
    progress = tqdm(total=len(jobs), desc=desc, unit="img", disable=None, file=sys.stderr)
    try:
        if workers == 1:
            results = map(_call, jobs)
            yield from _report(results, progress)
        else:
            with multiprocessing.Pool(min(workers, len(jobs)) or 1) as pool:
                results = pool.imap(_call, jobs) if ordered else pool.imap_unordered(_call, jobs)
                yield from _report(results, progress)
    finally:
        progress.close()


def _report(results, progress):
    for result in results:
        if result.status == "failed":
            progress.write(f"skipped: {result.message}", file=sys.stderr)
        progress.update(1)
        yield result


def fail_if_skipped(failed, total):
    """Exit 1 at the end of a batch in which some inputs were skipped."""
    if failed:
        raise RwsrError(f"{len(failed)} of {total} images could not be processed and were skipped "
                        f"(listed above, first: {failed[0].path})", exit_code=1)
