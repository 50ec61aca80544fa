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

INPUT_NAME, OUTPUT_NAME = "lr", "sr"
EXPORTERS = ("torchscript", "dynamo")


class FinalOutput(nn.Module):
    """The generator with only y as output (the EDL branches y_p, y_1 are training signals)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, lr):
        return generator_outputs(self.net(lr))[0]


def _export_torchscript(model, sample, path, opset):
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(model, (sample,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, opset_version=opset, dynamo=False)


def _export_dynamo(model, sample, path, opset):
    dims = {0: torch.export.Dim("batch", min=1), 2: torch.export.Dim("height", min=1),
            3: torch.export.Dim("width", min=1)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample,), path, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_shapes={"lr": dims}, opset_version=opset, dynamo=True,
                          external_data=False, verbose=False)


def _add_metadata(path, metadata):
    import onnx

    model = onnx.load(path)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    onnx.save(model, path)


def export_onnx(net, path, opset=17, half=False, metadata=None, exporter="torchscript", sample_size=32):
    """Write net's final output as an ONNX model at path (atomically); returns path.

    half: fp16 weights, input and output (for GPU runtimes). metadata (e.g. scale)
    is stored in the model's metadata_props, where test.py --backend onnx reads it.
    """
    if exporter not in EXPORTERS:
        raise RwsrError(f"--exporter {exporter}: use one of {', '.join(EXPORTERS)}", exit_code=2)
    dtype = torch.float16 if half else torch.float32
    model = FinalOutput(copy.deepcopy(net) if half else net).eval().to("cpu", dtype)
    in_channels = next(model.parameters()).shape[1]
    sample = torch.rand(1, in_channels, sample_size, sample_size, dtype=dtype)
    export = _export_torchscript if exporter == "torchscript" else _export_dynamo

    def write(tmp_path):
        try:
            export(model, sample, tmp_path, opset)
        except Exception as err:  # exporter failures come in many types
            detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            other = EXPORTERS[1 - EXPORTERS.index(exporter)]
            raise RwsrError(f"{path}: ONNX export failed ({detail}); try --exporter {other} or another --opset") from None
        _add_metadata(tmp_path, dict(metadata or {}, precision="fp16" if half else "fp32"))

    atomic_write(os.fspath(path), write)
    return path


def max_onnx_difference(path, net, sizes=((24, 24), (17, 31)), seed=0):
    """Largest |onnxruntime - PyTorch| (fp32) over random inputs of the given LR sizes."""
    from .backends import OnnxForward

    runner = OnnxForward(path)
    model = FinalOutput(net).eval().float()
    generator = torch.Generator().manual_seed(seed)
    in_channels = next(model.parameters()).shape[1]
    worst = 0.0
    for height, width in sizes:
        x = torch.rand(1, in_channels, height, width, generator=generator)
        with torch.inference_mode():
            expected = model(x)
        worst = max(worst, float(np.abs(runner(x).numpy() - expected.numpy()).max()))
    return worst
