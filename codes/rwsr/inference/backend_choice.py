"""Which runtime runs a model (PyTorch, onnxruntime, OpenVINO), and the fallbacks between them.

auto, measured (bench/bench_infer.py, docs/benchmarks.md): on the CPU OpenVINO runs this
network fastest, then onnxruntime, then PyTorch; OpenVINO with bf16 inference precision is
also faster than PyTorch's bf16 autocast for --half. On CUDA PyTorch runs weights (cuDNN,
fp16 autocast) and onnxruntime runs .onnx files. A runtime that cannot run the model is
skipped with a logged reason; an explicitly asked one stops with a one-line error instead.
"""
from ..utils.errors import RwsrError
from .backends import OnnxForward
from .openvino_backend import OpenVinoForward, openvino_available

BACKENDS = ("auto", "torch", "onnx", "openvino")
RUNTIME_NAMES = {"torch": "PyTorch", "onnx": "onnxruntime", "openvino": "OpenVINO"}


def onnxruntime_available():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def is_onnx_file(model_path):
    return str(model_path).lower().endswith(".onnx")


def backend_candidates(backend, model_path, device, settings):
    """Runtimes to try in order for this model file, device and `test` settings."""
    if backend not in BACKENDS:
        raise RwsrError(f"--backend {backend}: use one of {', '.join(BACKENDS)}", exit_code=2)
    onnx_file = is_onnx_file(model_path)
    if backend == "torch" and onnx_file:
        raise RwsrError(f"{model_path}: an ONNX model needs --backend onnx, openvino or auto", exit_code=2)
    if backend == "openvino" and device.type != "cpu":
        raise RwsrError(f"--backend openvino runs on the CPU, not {device.type}; use --device cpu or another "
                        "--backend", exit_code=2)
    if backend != "auto":
        return [backend]
    if device.type != "cpu":
        return ["onnx"] if onnx_file else ["torch"]
    if settings.get("compile") and not onnx_file:
        return ["torch"]  # torch.compile is asked for: a PyTorch option
    candidates = ["openvino"] if openvino_available() else []
    if onnxruntime_available() and not (settings.get("half") and not onnx_file):
        candidates.append("onnx")  # onnxruntime has no bf16 path: PyTorch's autocast is faster for --half
    if not onnx_file:
        candidates.append("torch")
    return candidates or ["onnx"]


def graph_forward(name, onnx_path, device, settings):
    """OpenVinoForward or OnnxForward of an ONNX file; errors are one-line RwsrErrors."""
    if name == "openvino":
        return OpenVinoForward(onnx_path, device, half=bool(settings.get("half")))
    return OnnxForward(onnx_path, device)


def describe_runtime(name, forward):
    if name == "openvino":
        levels = getattr(forward, "levels_checked", None)
        if levels is None:
            return f"OpenVINO {forward.precision}"
        return f"OpenVINO {forward.precision}, {levels} 8-bit level(s) from fp32 on the check photo"
    if name == "onnx":
        return f"onnxruntime {forward.session.get_providers()[0]}"
    return RUNTIME_NAMES[name]


def first_working(candidates, onnx_path, device, settings, logger):
    """(name, forward) of the first ONNX runtime in candidates that runs the file; a failure is
    logged when another candidate follows and raised for the last one."""
    for position, name in enumerate(candidates):
        try:
            forward = graph_forward(name, onnx_path, device, settings)
        except RwsrError as err:
            if position == len(candidates) - 1:
                raise
            logger.warning("%s; trying %s instead", err, RUNTIME_NAMES[candidates[position + 1]])
            continue
        for note in getattr(forward, "notes", ()):
            logger.warning(note)
        return name, forward
    raise RwsrError("no ONNX runtime to try", exit_code=2)
