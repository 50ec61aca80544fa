"""The one checkpoint reader/loader/writer for training and testing.

Every .pth/.state file is read with `torch.load(weights_only=True)`: a pickle that asks for
anything but tensors and plain containers is refused before any of its code can run.
Generator metadata (which_model_G, nf, nb, gc, upscale, ...) travels as safetensors string
metadata, or in a .pth state dict's `_metadata[""]["rwsr"]` entry, which PyTorch (and the
official code) ignore when loading.
"""
import collections
import collections.abc
import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import save_file as save_safetensors

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write
from ..utils.logger import get_logger
from .state_names import WRAPPER_KEYS, normalise_keys, strip_module_prefix

# Training saves networks as <stem>_<net>.<ext>: stem the iteration (or "best"), net G, D or G_ema.
_NETWORK_FILE = re.compile(r"^(?P<stem>.+?)_(?P<net>G_ema|G|D)\.(?P<ext>pth|safetensors)$")


def network_file_name(stem, net, ext):
    return f"{stem}_{net}.{ext}"


def parse_network_file_name(name):
    """(stem, net, ext) of a network file name written by training, or None."""
    match = _NETWORK_FILE.match(name)
    return (match.group("stem"), match.group("net"), match.group("ext")) if match else None


METADATA_KEY = "rwsr"
GENERATOR_KEYS = ("which_model_G", "in_nc", "out_nc", "nf", "nb", "gc", "upscale", "global_residual")
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024


# ---------------------------------------------------------------- reading files
def safe_torch_load(path):
    """torch.load(path, weights_only=True) on CPU; any failure is a one-line RwsrError naming the file."""
    _check_file(path)
    with open(path, "rb") as handle:
        head = handle.read(2)
    if not (head == b"PK" or head[:1] == b"\x80"):  # zip archive (torch.save) or pickle protocol 2+
        raise RwsrError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notices are irrelevant: the load is refused or fine
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise RwsrError(f"{path}: refused to load: {_unsafe_reason(str(err))}; only weights and plain "
                        "containers are accepted (the file was not executed)") from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, IndexError, TypeError) as err:
        detail = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise RwsrError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {detail}") from None


def _check_file(path):
    if not os.path.isfile(path):
        raise RwsrError(f"{path}: checkpoint file not found")
    if os.path.getsize(path) == 0:
        raise RwsrError(f"{path}: checkpoint file is empty")


def _unsafe_reason(message):
    found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if found:
        return f"its pickle needs the global {found.group(1)}, which could run code"
    found = re.search(r"(Unsupported operand \S+)", message)
    if found:
        return f"its pickle uses an instruction the safe loader rejects ({found.group(1)})"
    return "it is not a weights-only PyTorch file"


def _is_safetensors(path):
    """safetensors files start with an 8-byte header length followed by a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") < _SAFETENSORS_MAX_HEADER


def _read_safetensors(path):
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            raw_meta = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise RwsrError(f"{path}: not a readable safetensors file (truncated or corrupt?): "
                        f"{str(err).splitlines()[0][:160]}") from None
    return state, {key: _decode_meta_value(value) for key, value in raw_meta.items()}


def _decode_meta_value(value):
    try:
        return json.loads(value)
    except ValueError:
        return value


def read_checkpoint(path):
    """Read a .pth or .safetensors network file -> (state_dict of tensors, metadata dict).

    Wrappers (params_ema, params, state_dict, model) are unwrapped; keys are left as stored.
    """
    path = os.fspath(path)
    _check_file(path)
    if _is_safetensors(path):
        return _read_safetensors(path)
    loaded = safe_torch_load(path)
    return unwrap_state_dict(loaded, path), _pth_metadata(loaded)


def _pth_metadata(loaded):
    meta = getattr(loaded, "_metadata", None) or {}
    return dict(meta.get("", {}).get(METADATA_KEY, {}))


def unwrap_state_dict(obj, source="state dict"):
    """Return the tensor mapping inside BasicSR/Lightning-style wrappers; reject anything else."""
    while isinstance(obj, collections.abc.Mapping):
        wrapper = next((key for key in WRAPPER_KEYS if isinstance(obj.get(key), collections.abc.Mapping)), None)
        if wrapper is None:
            break
        obj = obj[wrapper]
    if not isinstance(obj, collections.abc.Mapping) or not obj:
        raise RwsrError(f"{source}: not a network checkpoint (expected a state dict of tensors)")
    not_tensors = [str(key) for key, value in obj.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        hint = "; it looks like a training state, pass it as path.resume_state" if "optimizers" in obj else ""
        raise RwsrError(f"{source}: not a network checkpoint (non-tensor entries: "
                        f"{', '.join(not_tensors[:5])}){hint}")
    return dict(obj)


# ---------------------------------------------------------------- loading into a network
@dataclass
class LoadReport:
    source: str
    convention: str = "rwsr"
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)  # (key, checkpoint shape, network shape)

    @property
    def complete(self):
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit=6):
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} ({_sample(_group_by_module(keys), limit)})")
        if self.mismatched:
            shapes = [f"{key} {tuple(ours)} in file vs {tuple(theirs)}" for key, ours, theirs in self.mismatched]
            parts.append(f"{len(shapes)} shape-mismatched ({_sample(shapes, limit)})")
        return "; ".join(parts) or "all keys match"


def _group_by_module(keys):
    """['sm.0.w', 'sm.1.w', 'conv_first.w'] -> ['sm.* (2)', 'conv_first.w']: readable for whole missing heads."""
    groups = {}
    for key in keys:
        groups.setdefault(key.split(".", 1)[0], []).append(key)
    return [members[0] if len(members) == 1 else f"{prefix}.* ({len(members)})" for prefix, members in groups.items()]


def _sample(items, limit):
    text = ", ".join(items[:limit])
    return text + (", ..." if len(items) > limit else "")


def _bare_network(net):
    return net.module if isinstance(net, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)) else net


def load_network(net, path_or_state_dict, strict=True, logger=None, source=None):
    """Load weights into net; returns a LoadReport.

    source: the name errors and the log use for a state dict (e.g. the file it was read from).

    strict: every key must match in name and shape, otherwise a one-line RwsrError names the
    keys that do not fit. Not strict: matching keys are loaded, the rest is logged as a warning
    (a checkpoint sharing no key with the network is still an error).
    """
    logger = logger or get_logger()
    net = _bare_network(net)
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        source = os.fspath(path_or_state_dict)
        state, _ = read_checkpoint(source)
    else:
        source = source or "state dict"
        state = unwrap_state_dict(path_or_state_dict, source)
    state, convention = normalise_keys(state)
    report = _compare(net.state_dict(), state, source, convention)
    name = type(net).__name__
    if strict and not report.complete:
        raise RwsrError(f"{source}: weights do not fit {name}: {report.describe()} "
                        "(another architecture or size? strict_load: false keeps only matching keys)")
    if not report.loaded:
        raise RwsrError(f"{source}: no weight fits {name}: {report.describe()}")
    net.load_state_dict({key: state[key] for key in report.loaded}, strict=False)
    renamed = " (BasicSR names mapped)" if convention == "basicsr" else ""
    logger.info("loaded %d tensors into %s from %s%s", len(report.loaded), name, source, renamed)
    if not report.complete:
        logger.warning("partial load of %s from %s: %s", name, source, report.describe(limit=20))
    return report


def _compare(net_state, state, source, convention):
    report = LoadReport(source=source, convention=convention)
    for key, tensor in state.items():
        if key not in net_state:
            report.unexpected.append(key)
        elif tensor.shape != net_state[key].shape:
            report.mismatched.append((key, tensor.shape, net_state[key].shape))
        else:
            report.loaded.append(key)
    report.missing = [key for key in net_state if key not in state]
    return report


# ---------------------------------------------------------------- writing
def save_network(net_or_state_dict, path, fmt=None, metadata=None):
    """Write a plain state dict atomically as .pth (default) or .safetensors.

    fmt None picks the format from the suffix. metadata (a flat dict, e.g. network_G options)
    is stored as safetensors string metadata or inside the .pth state dict's `_metadata`.
    """
    path = os.fspath(path)
    fmt = fmt or ("safetensors" if path.endswith(".safetensors") else "pth")
    if fmt not in ("pth", "safetensors"):
        raise RwsrError(f"{path}: unknown checkpoint format {fmt!r}; use pth or safetensors")
    if isinstance(net_or_state_dict, torch.nn.Module):
        state = _bare_network(net_or_state_dict).state_dict()
    else:
        state = net_or_state_dict
    state = {key: value.detach().cpu() for key, value in strip_module_prefix(state).items()}
    metadata = dict(metadata or {})
    if fmt == "safetensors":
        tensors = {key: value.contiguous().clone() for key, value in state.items()}  # no shared storage
        text_meta = {str(key): json.dumps(value) for key, value in metadata.items()}
        atomic_write(path, lambda tmp: save_safetensors(tensors, tmp, metadata=text_meta))
    else:
        ordered = collections.OrderedDict(state)
        ordered._metadata = collections.OrderedDict({"": {"version": 1, METADATA_KEY: metadata}})
        atomic_write(path, lambda tmp: torch.save(ordered, tmp))
    return path


# ---------------------------------------------------------------- architecture from weights
RRDB_GENERATORS = ("RRDBNet", "RRDB")  # the architectures whose options can be read from tensor shapes
_RRDB_KEYS = ("conv_first.weight", "conv_last.weight", "RRDB_trunk.0.RDB1.conv1.weight")


def infer_generator_options(state_dict, metadata=None):
    """network_G options for a generator checkpoint, metadata first.

    Metadata naming the architecture (written by this project) decides: for our RRDB generators
    the tensor shapes only fill the keys it lacks (files written before a key existed); for any
    other architecture (registered or a plugin's import path) the metadata is the whole spec and
    no shape is looked at. Without metadata the shapes are read (official ESRGAN / RWSR-EDL /
    BasicSR weights).
    """
    metadata = dict(metadata or {})
    named = metadata.get("which_model_G")
    if named is not None and named not in RRDB_GENERATORS:
        return {key: value for key, value in metadata.items() if key != "scale"}
    from_metadata = {key: metadata[key] for key in GENERATOR_KEYS if metadata.get(key) is not None}
    if "upscale" not in from_metadata and metadata.get("scale") is not None:
        from_metadata["upscale"] = metadata["scale"]
    if named is not None and all(key in from_metadata for key in GENERATOR_KEYS):
        return from_metadata
    state, convention = normalise_keys(unwrap_state_dict(state_dict))
    inferred = _options_from_shapes(state, convention)
    inferred.update(from_metadata)
    return inferred


def _is_pixel_unshuffle(state, convention):
    """Real-ESRGAN x2/x1 RRDBNets fold 2x2 or 4x4 pixels into channels before conv_first."""
    in_nc, out_nc = state["conv_first.weight"].shape[1], state["conv_last.weight"].shape[0]
    return convention == "basicsr" and in_nc in (4 * out_nc, 16 * out_nc)


def is_rrdb_checkpoint(state_dict):
    """True for weights of our RRDB / EDL generators (our, official or BasicSR names), whose options
    infer_generator_options reads from the shapes; False for anything else (community models)."""
    state, convention = normalise_keys(unwrap_state_dict(state_dict))
    return all(key in state for key in _RRDB_KEYS) and not _is_pixel_unshuffle(state, convention)


def _options_from_shapes(state, convention):
    absent = [key for key in _RRDB_KEYS if key not in state]
    if absent:
        raise RwsrError(f"not an RRDBNet generator checkpoint: no {', '.join(absent)} "
                        f"(first keys: {_sample(sorted(state), 4)})")
    first, last = state["conv_first.weight"], state["conv_last.weight"]
    if _is_pixel_unshuffle(state, convention):
        raise RwsrError("pixel-unshuffle RRDBNet checkpoints (Real-ESRGAN x2/x1, conv_first takes "
                        f"{first.shape[1]} channels) are not built here; rwsr.inference.load_generator loads them "
                        "through spandrel")
    blocks = {int(key.split(".")[1]) for key in state if key.startswith("RRDB_trunk.")}
    is_edl = any(key.startswith(("sm.", "branch1.", "tail_conv1.")) for key in state)
    upsampling_steps = sum(f"upconv{index}.weight" in state for index in (1, 2))
    return {
        "which_model_G": "RRDBNet" if is_edl else "RRDB",
        "in_nc": int(first.shape[1]),
        "out_nc": int(last.shape[0]),
        "nf": int(first.shape[0]),
        "nb": max(blocks) + 1,
        "gc": int(state["RRDB_trunk.0.RDB1.conv1.weight"].shape[0]),
        # x3 has the tensors of x2 (one upsampling conv): only metadata can tell them apart
        "upscale": (1, 2, 4)[upsampling_steps],
        "global_residual": False,  # invisible in the weights; only metadata can say
    }
