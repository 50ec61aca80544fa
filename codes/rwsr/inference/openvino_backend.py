"""OpenVinoForward: an exported ONNX generator run by OpenVINO on the CPU.

The model is compiled once with dynamic batch, height and width: measured on the official
generator, the steady-state speed equals a model compiled for one fixed shape, while a new
shape costs OpenVINO's executor about 0.05-0.3 s instead of a 1 s recompilation (and one
cached blob on disk per shape). Compiled models go to OpenVINO's model cache
(default_cache_dir()), so the next run loads instead of compiling.
"""
import contextlib
import ctypes
import functools
import os
import sys

import numpy as np
import torch

from ..utils.errors import RwsrError

CACHE_ENV = "RWSR_OPENVINO_CACHE"


def openvino_available():
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def default_cache_dir():
    """$RWSR_OPENVINO_CACHE (empty: no cache), else $XDG_CACHE_HOME/rwsr/openvino, else ~/.cache/rwsr/openvino."""
    if CACHE_ENV in os.environ:
        return os.environ[CACHE_ENV] or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rwsr", "openvino")


def half_precision(capabilities):
    """OpenVINO's inference precision for --half on a CPU with these OPTIMIZATION_CAPABILITIES:
    bf16 (AVX512-BF16/AMX x86), else f16 (ARM with fp16 arithmetic), else None (fp32 only)."""
    if "BF16" in capabilities:
        return "bf16"
    if "FP16" in capabilities:
        return "f16"
    return None


@functools.lru_cache(maxsize=1)
def cpu_half_precision():
    """half_precision() of this CPU, asked of OpenVINO once; None without OpenVINO."""
    if not openvino_available():
        return None
    import openvino

    with signal_stack_kept():
        return half_precision(openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_message(err):
    """The informative line of an OpenVINO exception (they start with source locations)."""
    noise = ("Exception from", "Check '", "FrontEnd API failed", "Summary:")
    lines = [line.strip().lstrip("- ").strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line and not line.startswith(noise)]
    return (lines[-1] if lines else type(err).__name__)[:200]


class _SignalStack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]  # Linux


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)  # once: signal_stack_kept runs around every forward


@contextlib.contextmanager
def signal_stack_kept():
    """Restore this thread's alternate signal stack after OpenVINO code.

    OpenVINO's CPU plugin installs an alternate signal stack of its own when a plugin or compiled
    model is created and puts back the one it saw when that object is destroyed; with two objects
    alive at once it can put back a stack that was already freed. Python's signal handlers run on
    the alternate stack, so the next signal (a child's exit, Ctrl-C) then kills the process with
    SIGSEGV. Measured: the test suite crashed that way after the OpenVINO tests.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = _libc()
    saved = _SignalStack()
    if libc.sigaltstack(None, ctypes.byref(saved)) != 0:
        yield
        return
    try:
        yield
    finally:
        saved.ss_flags &= 4  # SS_DISABLE is the only flag sigaltstack accepts back
        libc.sigaltstack(ctypes.byref(saved), None)


class OpenVinoForward:
    """Batch of LR images (float32 NCHW in [0, 1]) -> SR batch, with OpenVINO on the CPU.

    half: bf16 inference precision where the CPU supports it (f16 on ARM CPUs that have it);
    fp32 otherwise, with a note saying so. Without half the precision is f32 even
    on CPUs where OpenVINO would pick bf16 by itself. precision ("f32", "bf16"), when given,
    is used as it is (the caller checked cpu_half_precision()).
    Call it with the model's inputs, positional in the model's order or by name.
    cache_dir: OpenVINO's model cache; None uses default_cache_dir(), "" disables it.
    Model files OpenVINO cannot read or compile raise a one-line RwsrError. `notes` holds
    what the caller should log (precision or cache not as asked).
    """

    def __init__(self, path, device="cpu", half=False, threads=0, cache_dir=None, precision=None):
        with signal_stack_kept():
            self._load(path, device, half, threads, cache_dir, precision)

    def _load(self, path, device, half, threads, cache_dir, precision):
        self.compiled = self.request = None
        try:
            import openvino
        except ImportError:
            raise RwsrError("--backend openvino needs the openvino package: pip install openvino", exit_code=2) from None
        if torch.device(device).type != "cpu":
            raise RwsrError(f"--backend openvino runs on the CPU, not {device}; use --device cpu or --backend torch",
                            exit_code=2)
        self.device = torch.device("cpu")
        core = openvino.Core()
        self.notes = []
        self.cache_dir = default_cache_dir() if cache_dir is None else (cache_dir or None)
        if self.cache_dir and not _writable_folder(self.cache_dir):
            self.notes.append(f"OpenVINO model cache {self.cache_dir} is not writable: compiling without it "
                              f"(set {CACHE_ENV} to another folder)")
            self.cache_dir = None
        if self.cache_dir:
            core.set_property({"CACHE_DIR": self.cache_dir})
        if precision is None:
            precision = "f32"
        elif half:
            raise ValueError("give half or precision, not both")
        if half:
            precision = cpu_half_precision()
            if precision is None:
                precision = "f32"
                self.notes.append("this CPU has neither bf16 nor f16 support in OpenVINO: --half runs fp32")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        failure = None
        try:
            model = core.read_model(str(path))
            self.metadata = _framework_metadata(model)
            # An ov.Model, not the path: the cache key is then the model's content, so a model
            # exported again to another temporary folder still hits the cache.
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as err:
            failure = openvino_message(err)
        if failure is not None:
            del core  # destroyed here, inside signal_stack_kept, not when the traceback goes
            raise RwsrError(f"{path}: OpenVINO cannot run this model ({failure})")
        self.precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # what it runs
        self.input_dtypes = [np.float16 if port.get_element_type().to_string() == "f16" else np.float32
                             for port in self.compiled.inputs]
        self.request = self.compiled.create_infer_request()

    def __call__(self, *inputs, **named):
        """Inputs in the model's order, or by name; named inputs the model does not have (the
        exporter drops unused ones) are left out."""
        values = list(inputs)
        for port in self.compiled.inputs[len(inputs):]:
            found = [named[name] for name in port.get_names() if name in named]
            if not found:
                raise ValueError(f"the model's input {port.get_any_name()} was not given")
            values.append(found[0])
        arrays = {index: np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy().astype(dtype, copy=False))
                  for index, (x, dtype) in enumerate(zip(values, self.input_dtypes))}
        # share_inputs: no copy of the input (the call is synchronous); outputs are copied, as the
        # request's buffer is overwritten by the next call.
        with signal_stack_kept():
            y = self.request.infer(arrays, share_inputs=True)[0]
        return torch.from_numpy(np.asarray(y, dtype=np.float32))

    def measure_batch(self, window_h, window_w):
        return 1

    def close(self):
        """Release the compiled model (its destructor resets the signal stack: see signal_stack_kept)."""
        with signal_stack_kept():
            self.request = self.compiled = None

    def __del__(self):
        if getattr(self, "compiled", None) is not None:
            self.close()


def _framework_metadata(model):
    """ONNX metadata_props (export_onnx's upscale, precision, ...) as OpenVINO keeps them."""
    try:
        entries = model.get_rt_info()["framework"]
        return {key: value.astype(str) for key, value in entries.items()}
    except (KeyError, RuntimeError, AttributeError, TypeError):
        return {}


def _writable_folder(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)
