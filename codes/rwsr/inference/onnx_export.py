"""Export a generator's final output y to ONNX with dynamic batch, height and width."""
import copy
import os
import warnings

import numpy as np
import torch
from torch import nn

from ..archs import generator_outputs
from ..utils.errors import RwsrError
from ..utils.fs import atomic_write
from ..utils.torch_compat import require_torch, torchscript_onnx_kwargs

INPUT_NAME, OUTPUT_NAME = "lr", "sr"
EXPORTERS = ("torchscript", "dynamo")
# torch.onnx.export(dynamo=True) exists from 2.5, but 2.5 cannot convert the bicubic skip with
# dynamic sizes (no ONNX function for sym_float); measured working from 2.6 (docs/contributing.md)
DYNAMO_TORCH = "2.6"


class FinalOutput(nn.Module):
    """The generator with only y as output (the EDL branches y_p, y_1 are training signals)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, lr):
        return generator_outputs(self.net(lr))[0]


def _export_torchscript(model, sample, path, opset, fixed_size=False):
    axes = {0: "batch"} if fixed_size else {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(model, (sample,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, opset_version=opset,
                          **torchscript_onnx_kwargs())


def _export_dynamo(model, sample, path, opset, fixed_size=False):
    dims = {0: torch.export.Dim("batch", min=1)}
    if not fixed_size:
        dims.update({2: torch.export.Dim("height", min=1), 3: torch.export.Dim("width", min=1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes={"lr": dims}, opset_version=opset, dynamo=True,
                          external_data=False, verbose=False)


def add_metadata(path, metadata):
    import onnx

    model = onnx.load(path)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.save(model, path)


def _input_channels(model, in_channels):
    """Channels of the exported input: given, else the first weight's (a bare generator).

    Wrapped generators (luma models, pixel-unshuffle networks) take RGB whatever their first
    convolution sees, so rwsr.inference.load_generator's nets are exported with in_channels=3.
    """
    return int(in_channels) if in_channels else next(model.parameters()).shape[1]


def export_onnx(net, path, opset=17, half=False, metadata=None, exporter="torchscript", sample_size=32,
                in_channels=None, input_size=None):
    """Write net's final output as an ONNX model at path (atomically); returns path.

    half: fp16 weights, input and output (for GPU runtimes). metadata (e.g. scale)
    is stored in the model's metadata_props, where test.py --backend onnx reads it.
    in_channels: of the input (default: the first weight's input channels).
    input_size: export for input_size x input_size inputs only (networks whose graph holds the
    traced size, e.g. window attention); stored as metadata `input_size`, so that test.py runs
    the model on tiles of exactly that size.
    """
    if exporter not in EXPORTERS:
        raise RwsrError(f"--exporter {exporter}: use one of {', '.join(EXPORTERS)}", exit_code=2)
    if exporter == "dynamo":
        require_torch(DYNAMO_TORCH, "--exporter dynamo")
    dtype = torch.float16 if half else torch.float32
    model = FinalOutput(copy.deepcopy(net) if half else net).eval().to("cpu", dtype)
    in_channels = _input_channels(model, in_channels)
    if input_size:
        sample_size = int(input_size)
        metadata = dict(metadata or {}, input_size=sample_size)
    sample = torch.rand(1, in_channels, sample_size, sample_size, dtype=dtype)
    export = _export_torchscript if exporter == "torchscript" else _export_dynamo

    def write(tmp_path):
        try:
            export(model, sample, tmp_path, opset, fixed_size=bool(input_size))
        except Exception as err:  # exporter failures come in many types
            detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            other = EXPORTERS[1 - EXPORTERS.index(exporter)]
            raise RwsrError(f"{path}: ONNX export failed ({detail}); try --exporter {other} or another --opset") from None
        add_metadata(tmp_path, dict(metadata or {}, precision="fp16" if half else "fp32"))

    atomic_write(os.fspath(path), write)
    return path


def max_onnx_difference(path, net, sizes=((24, 24), (17, 31)), seed=0, in_channels=None):
    """Largest |onnxruntime - PyTorch| (fp32) over random inputs of the given LR sizes.

    A graph that fails at a size it was not traced at (window-attention networks such as SwinIR
    and HAT bake the traced size into reshapes) is a one-line RwsrError.
    """
    from .backends import OnnxForward

    runner = OnnxForward(path)
    model = FinalOutput(net).eval().float()
    generator = torch.Generator().manual_seed(seed)
    in_channels = _input_channels(model, in_channels)
    worst = 0.0
    for height, width in sizes:
        x = torch.rand(1, in_channels, height, width, generator=generator)
        with torch.inference_mode():
            expected = model(x)
        try:
            result = runner(x).numpy()
        except Exception as err:  # onnxruntime's own exception types
            detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise RwsrError(f"{path}: the exported graph does not run on a {height}x{width} input ({detail}); "
                            "this architecture traces one input size only: export it with --input_size N") from None
        worst = max(worst, float(np.abs(result - expected.numpy()).max()))
    return worst


def check_onnx_generalises(path, net, tolerance=1e-3):
    """RwsrError unless the exported graph matches PyTorch on two other input sizes."""
    difference = max_onnx_difference(path, net, in_channels=3)
    if difference > tolerance:
        raise RwsrError(f"{path}: the exported graph differs from PyTorch by {difference:.2e} at other input sizes")
