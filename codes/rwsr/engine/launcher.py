"""train.py's own launcher: one process per GPU of gpu_ids (or --nproc N), as torchrun starts them.

Each child is `python -m rwsr.cli.train <the same arguments> --launcher pytorch` with torchrun's
environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, and
OMP_NUM_THREADS=1 unless set), so a run equals `torchrun --nproc_per_node=N ... --launcher pytorch`
bit for bit. The parent forwards stop signals to the children, and when one child fails it
ends the others and exits with that child's message and exit code.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from ..utils.errors import RwsrError
from ..utils.logger import get_logger
from .preemption import PREEMPTED_EXIT_CODE

GRACE_SECONDS = 10  # after a child failed, the others get this long to end on their own
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_gpu_ids(opt):
    """gpu_ids when training runs on them, else None; more ids than GPUs is an option error.

    Counts devices as CUDA_VISIBLE_DEVICES stands (an explicit value wins over gpu_ids), without
    initialising CUDA (torch counts through NVML), so that the variable set afterwards still applies.
    """
    gpu_ids = opt["gpu_ids"]
    if not gpu_ids or opt["device"] == "cpu":
        return None
    count = cuda_device_count()
    if count == 0:  # device auto: the CPU; device cuda: the device error follows
        get_logger().info("gpu_ids %s ignored: no CUDA device, training on the CPU", gpu_ids)
        return None
    explicit = os.environ.get("CUDA_VISIBLE_DEVICES")
    if len(set(gpu_ids)) != len(gpu_ids) or min(gpu_ids) < 0:
        raise RwsrError(f"gpu_ids: {gpu_ids} must name distinct GPUs (0, 1, ...)", exit_code=2)
    if (explicit is None and max(gpu_ids) >= count) or len(gpu_ids) > count:
        seen = (f"CUDA_VISIBLE_DEVICES={explicit} leaves {count}" if explicit is not None
                else f"this machine has {count}")
        raise RwsrError(f"gpu_ids: {gpu_ids} names more GPUs than exist ({seen}: 0-{count - 1}); list only "
                        "those, e.g. gpu_ids: [0]", exit_code=2)
    return gpu_ids


def cuda_device_count():
    import torch  # here only: a parent on the CPU starts its children without importing torch
    return torch.cuda.device_count()


def processes_to_start(opt, launcher, nproc):
    """How many training processes this command starts itself: 1 (this process) or N > 1 (children)."""
    if launcher != "none" or all(var in os.environ for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return 1  # a launcher started this process (torchrun without --launcher pytorch included)
    gpu_ids = check_gpu_ids(opt)
    if nproc is not None:
        return nproc
    return len(gpu_ids) if gpu_ids else 1


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_arguments(argv):
    """argv without --nproc N, with --launcher pytorch."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out + ["--launcher", "pytorch"]


def child_environment(rank, nproc, port, gpu_ids):
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
               GROUP_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RWSR_LAUNCHED_BY="train.py")
    env.setdefault("OMP_NUM_THREADS", "1")  # as torchrun does for several processes per node
    if gpu_ids and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in gpu_ids)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
    return env


class Child:
    """One training process; its stderr passes through, its last `error:` line is kept."""

    def __init__(self, rank, command, env):
        self.rank = rank
        self.process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.last_error = None
        self.relay = threading.Thread(target=self._relay, daemon=True)
        self.relay.start()

    def _relay(self):
        for line in self.process.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            if line.startswith("error: "):
                self.last_error = line[len("error: "):].strip()

    def describe_failure(self, code, nproc):
        """Its one-line message (which names the process that failed first), or how it ended."""
        self.relay.join(timeout=5)
        if code < 0:
            return f"training process {self.rank} of {nproc} was killed by {signal.Signals(-code).name}"
        return self.last_error or f"training process {self.rank} of {nproc} ended with exit code {code}"


def launch(nproc, argv, opt):
    """Start nproc training processes and wait for them; returns the exit code of the whole run."""
    gpu_ids = check_gpu_ids(opt)
    port = free_port()
    on_cpu = opt["device"] == "cpu" or cuda_device_count() == 0
    where = f"GPUs {gpu_ids}" if gpu_ids else "the CPU (gloo)" if on_cpu else f"GPUs 0-{nproc - 1}"
    get_logger().info("starting %d training processes on %s, as torchrun --nproc_per_node=%d ... --launcher "
                      "pytorch would", nproc, where, nproc)
    command = [sys.executable, "-m", "rwsr.cli.train", *child_arguments(argv)]
    children = [Child(rank, command, child_environment(rank, nproc, port, gpu_ids)) for rank in range(nproc)]
    forwarded = opt["train"]["preemption_signals"] or []
    previous = {sig: signal.signal(getattr(signal, sig), lambda signum, frame: _forward(children, signum))
                for sig in forwarded if sig != "SIGINT"}
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the children directly
    try:
        return _wait(children)
    finally:
        for sig, handler in previous.items():
            signal.signal(getattr(signal, sig), handler)
        signal.signal(signal.SIGINT, previous_int)


def _forward(children, signum):
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signum)


def _wait(children):
    while True:
        codes = [child.process.poll() for child in children]
        failed = [(child, code) for child, code in zip(children, codes) if code not in (None, 0, PREEMPTED_EXIT_CODE)]
        if failed or all(code is not None for code in codes):
            break
        time.sleep(0.1)
    if not failed:
        for child in children:
            child.relay.join(timeout=5)
        return PREEMPTED_EXIT_CODE if PREEMPTED_EXIT_CODE in codes else 0
    child, code = failed[0]
    deadline = time.monotonic() + GRACE_SECONDS
    for other in children:
        try:
            other.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            other.process.kill()
            other.process.wait()
    raise RwsrError(child.describe_failure(code, len(children)), exit_code=code if code > 0 else 1)
