"""test.py's default on CPUs with native bf16: the EDL generator in two precisions with OpenVINO.

The fp32 forward is compute-bound: OpenVINO's fp32 convolutions run at the CPU's fp32 peak, so
fp32 cannot go faster (docs/inference.md#precision-on-the-cpu). bf16 doubles the throughput, but
the whole network in bf16 is 2-3 8-bit levels away from fp32 on trained weights. A generator
with stages says which part tolerates bf16: y = head_stage(x, trunk_stage(stem(x))), where
trunk_stage (most of the work) runs in bf16 with its residual sums kept in fp32, and stem and
head_stage in fp32. They are exported as three graphs and run one after the other. Before use,
the result is checked on a real photo against the PyTorch fp32 forward: more than MAX_LEVELS
apart and the caller runs fp32 as one graph, with a warning.
"""
import os
import warnings

import numpy as np
import torch
from torch import nn

from ..utils.errors import RwsrError
from ..utils.tensor_image import tensor_to_uint8
from ..utils.torch_compat import torchscript_onnx_kwargs
from .onnx_export import add_metadata
from .openvino_backend import OpenVinoForward, cpu_half_precision, signal_stack_kept

MAX_LEVELS = 1
CHECK_SIZE = 32  # LR side of the check photo: about 0.7 s at the official size


class _Stage(nn.Module):
    def __init__(self, net, method):
        super().__init__()
        self.net, self.method = net, method

    def forward(self, *inputs):
        return getattr(self.net, self.method)(*inputs)


STAGE_METHODS = ("stem", "trunk_stage", "head_stage")


def has_stages(net):
    """Whether net can run in two precisions: the EDL generator, or a generator of your own with
    these three methods (wrappers, e.g. of one-channel models, cannot)."""
    return all(callable(getattr(net, method, None)) for method in STAGE_METHODS)


def staged_reference(net, x):
    """net's y computed the way the stages split it (PyTorch, the precision of x)."""
    return net.head_stage(x, net.trunk_stage(net.stem(x)))


def export_graph(module, samples, inputs, outputs, path, opset=17):
    """module traced on samples to ONNX at path, batch, height and width of every named input and
    output dynamic (each its own sizes)."""
    axes = {name: {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} for name in inputs + outputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(module, samples, path, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=opset, **torchscript_onnx_kwargs())
    return path


def export_stages(net, folder, metadata):
    """(stem.onnx, trunk.onnx, head.onnx) in folder; head.onnx carries metadata (the scale)."""
    net = net.eval().float()
    lr = torch.rand(1, 3, 32, 32)
    with torch.no_grad():  # not inference_mode: the exporter traces with these tensors
        fea = net.stem(lr)
        trunk = net.trunk_stage(fea)
    stages = (("stem", (lr,), ["lr"], ["fea"]), ("trunk_stage", (fea,), ["fea"], ["trunk"]),
              ("head_stage", (lr, trunk), ["lr", "trunk"], ["sr"]))
    try:
        paths = [export_graph(_Stage(net, method), samples, inputs, outputs, os.path.join(folder, f"{method}.onnx"))
                 for method, samples, inputs, outputs in stages]
    except Exception as err:  # exporter failures come in many types
        raise RwsrError(f"two-precision export failed ({str(err).strip()[:160] or type(err).__name__})") from None
    add_metadata(paths[-1], dict(metadata, precision="fp32"))
    return paths


def keep_sums_in_fp32(onnx_path):
    """The trunk as OpenVINO IR (beside onnx_path) with every sum of two computed tensors (the
    residual connections) marked to run in fp32 inside the bf16 model.

    In bf16 the residual stream is rounded after each of the trunk's blocks; keeping those sums in
    fp32 took the official-size generator from 2 levels to 1 on one of seven photos, for 2-5% of the
    trunk's time (bench/bench_precision.py). The mark is the IR form of OpenVINO's disable_fp16_compression attribute
    ("precise"), which its CPU plugin honours for these nodes in bf16 as well; if a release stopped
    honouring it, the check photo would still catch a larger difference.
    """
    import xml.etree.ElementTree as ElementTree

    import openvino

    with signal_stack_kept():
        model = openvino.Core().read_model(onnx_path)
        sums = _sums_of_computed_tensors(model)
        xml_path = os.path.splitext(onnx_path)[0] + ".xml"
        openvino.save_model(model, xml_path, compress_to_fp16=False)
    tree = ElementTree.parse(xml_path)
    for layer in tree.getroot().iter("layer"):
        if layer.get("name") in sums:
            attributes = layer.find("rt_info")
            if attributes is None:
                attributes = ElementTree.SubElement(layer, "rt_info")
            ElementTree.SubElement(attributes, "attribute", {"name": "precise", "version": "0"})
    tree.write(xml_path)
    return xml_path, len(sums)


def _sums_of_computed_tensors(model):
    """Names of the Add nodes both of whose inputs depend on the model's input values (a
    convolution's bias is added from weights, reshaped by shape arithmetic; a residual connection
    adds two computed tensors)."""
    computed = set()
    sums = set()
    for op in model.get_ordered_ops():
        sources = [value.get_node() for value in op.input_values()]
        depends = [source.get_type_name() == "Parameter" or source.get_friendly_name() in computed
                   for source in sources]
        if any(depends) and op.get_type_name() != "ShapeOf":  # a shape is no value
            computed.add(op.get_friendly_name())
        if op.get_type_name() == "Add" and len(depends) == 2 and all(depends):
            sums.add(op.get_friendly_name())
    return sums


class StagedForward:
    """LR batch -> SR batch as head(x, trunk(stem(x))): three compiled OpenVINO models."""

    def __init__(self, stem, trunk, head):
        self.parts = (stem, trunk, head)
        self.device = head.device
        self.metadata = head.metadata
        self.notes = [note for part in self.parts for note in part.notes]
        self.precision = f"{trunk.precision} trunk + {head.precision}"
        self.levels_checked = None  # 8-bit levels from PyTorch's fp32 forward on the check photo

    def __call__(self, x):
        stem, trunk, head = self.parts
        return head(lr=x, trunk=trunk(fea=stem(lr=x)))

    def measure_batch(self, window_h, window_w):
        return 1

    def close(self):
        for part in self.parts:
            part.close()


def check_photo(size=CHECK_SIZE):
    """A real photo (scikit-image's astronaut) reduced to size x size, as a 1x3xHxW tensor."""
    import cv2
    from skimage import data

    photo = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(photo).permute(2, 0, 1)[None].float().div_(255.0)


def levels_apart(a, b):
    """Largest difference of two 1xCxHxW images in 8-bit levels."""
    return int(np.abs(tensor_to_uint8(a).astype(np.int16) - tensor_to_uint8(b)).max())


def staged_forward(net, folder, metadata, threads=0, cache_dir=None, logger=None):
    """The two-precision StagedForward of net, checked against net's PyTorch fp32 forward on a
    real photo; None when this CPU has no native bf16 or the check fails (logged): the caller
    then runs fp32 as one graph."""
    if cpu_half_precision() != "bf16":
        return None
    paths = export_stages(net, folder, metadata)
    paths[1], _ = keep_sums_in_fp32(paths[1])
    staged = StagedForward(*(OpenVinoForward(path, precision=precision, threads=threads, cache_dir=cache_dir)
                             for path, precision in zip(paths, ("f32", "bf16", "f32"))))
    photo = check_photo()
    with torch.inference_mode():
        reference = staged_reference(net, photo)
    staged.levels_checked = levels_apart(staged(photo), reference)
    if staged.levels_checked > MAX_LEVELS:
        staged.close()
        if logger is not None:
            logger.warning("the bf16 trunk is %d 8-bit levels from fp32 on the check photo (more than %d): "
                           "running fp32", staged.levels_checked, MAX_LEVELS)
        return None
    return staged
