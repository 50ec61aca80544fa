"""Forward functions: batch of LR tiles (float32, NCHW, [0, 1]) -> SR batch (float32).

TorchForward runs a generator with the fast-path settings; OnnxForward runs an
exported .onnx model with onnxruntime. SRInference only sees the call.
"""
import contextlib

import numpy as np
import torch

from ..archs import generator_outputs
from ..utils.errors import RwsrError


def resolve_device(name="auto"):
    """'auto' -> CUDA when available, else CPU; asking for absent CUDA is an error."""
    name = str(name or "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RwsrError(f"--device {name}: CUDA is not available on this machine; use --device cpu", exit_code=2)
    try:
        return torch.device(name)
    except RuntimeError:
        raise RwsrError(f"--device {name}: unknown device; use auto, cpu or cuda", exit_code=2) from None


def _compiled(net):
    """torch.compile with weight freezing (inference only: weights become constants that the
    convolution kernels can pre-pack). Freezing is an option of this compilation only: the
    process-wide inductor configuration of the caller stays as it is."""
    return torch.compile(net, dynamic=False, options={"freezing": True})


class TorchForward:
    """A generator in eval mode on a device, returning the final output y.

    half: fp16 autocast on CUDA, bf16 autocast on the CPU (fp16 is slow there; bf16 convolutions
    use AVX512-BF16 where the CPU has it); autocast keeps precision-sensitive ops such as softmax
    in fp32.
    channels_last: NHWC memory format (oneDNN/cuDNN kernels skip layout reorders).
    compile: torch.compile; pays off when one shape repeats (tiles) and
    recompiles for every new whole-image size.
    The network itself is put in eval mode on the device (and in channels_last when
    asked): pass a copy when it is still being trained.
    """

    def __init__(self, net, device, half=False, channels_last=False, compile=False):
        self.device = torch.device(device)
        self.half = bool(half)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        net = net.eval().to(self.device, memory_format=self.memory_format)
        self.net = net
        self.fn = _compiled(net) if compile else net

    def _autocast(self):
        if self.half:
            dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def __call__(self, x):
        x = x.to(self.device, torch.float32, non_blocking=True).contiguous(memory_format=self.memory_format)
        with torch.inference_mode(), self._autocast():
            y = generator_outputs(self.fn(x))[0]
        return y.float()

    def measure_batch(self, window_h, window_w, budget_fraction=0.5, limit=16):
        """Tiles per batch that fit in a share of free CUDA memory (1 on CPU)."""
        if self.device.type != "cuda":
            return 1
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        self(torch.zeros(1, 3, window_h, window_w, device=self.device))
        per_tile = max(1, torch.cuda.max_memory_allocated(self.device) - base)
        free, _ = torch.cuda.mem_get_info(self.device)
        return int(max(1, min(limit, free * budget_fraction // per_tile)))


class OnnxForward:
    """An exported generator run by onnxruntime (CUDA provider when asked and present)."""

    def __init__(self, path, device="cpu", threads=0):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RwsrError("--backend onnx needs the onnxruntime package: pip install onnxruntime", exit_code=2) from None
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if type(err).__name__ in ("InvalidProtobuf", "InvalidGraph"):  # the file itself is bad
                raise RwsrError(f"{path}: not a valid ONNX model ({first_line})") from None
            raise RwsrError(f"{path}: onnxruntime cannot run it ({type(err).__name__}: {first_line})") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_dtype = np.float16 if "float16" in model_input.type else np.float32
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.device = torch.device("cpu")

    def __call__(self, x):
        array = x.detach().to("cpu", torch.float32).numpy().astype(self.input_dtype, copy=False)
        y = self.session.run(None, {self.input_name: np.ascontiguousarray(array)})[0]
        return torch.from_numpy(y.astype(np.float32, copy=False))

    def measure_batch(self, window_h, window_w):
        return 1
