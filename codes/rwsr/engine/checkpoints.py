"""Checkpoints: networks in models/<iter>_<net>.<ext>, the rest in training_state/<iter>.state.

The networks are written first and the state last, each atomically: a state file
marks a complete checkpoint, so a run killed while saving resumes from the
previous one. States hold only tensors, numbers, strings and containers
(torch.load(weights_only=True) reads them).
"""
import os
import re

import torch

from ..archs.network_files import (network_file_name, parse_network_file_name, read_checkpoint, safe_torch_load,
                                   save_network)
from ..utils.errors import RwsrError
from ..utils.fs import atomic_write
from .faults import inject

STATE_FORMAT = "rwsr-training-state"
STATE_VERSION = 1
_STATE_NAME = re.compile(r"^(\d+)\.state$")


def generator_metadata(opt):
    """network_G options stored with saved generators (read back by test.py)."""
    meta = {key: value for key, value in opt["network_G"].items() if value is not None}
    meta["scale"] = opt["scale"]
    return meta


class CheckpointWriter:
    """Saves checkpoints of one experiment; keeps the newest keep_last training states and the newest
    keep_last_models network snapshots (and every snapshot a kept state needs)."""

    def __init__(self, paths, opt):
        self.models_dir = paths["models"]
        self.state_dir = paths["training_state"]
        self.keep_last = opt["logger"]["keep_last"] or 0
        self.keep_last_models = opt["logger"].get("keep_last_models") or 0
        self.generator_format = opt["logger"]["save_format"]
        self.metadata = generator_metadata(opt)

    def network_file(self, iteration, name):
        ext = self.generator_format if name in ("G", "G_ema") else "pth"
        return network_file_name(iteration, name, ext)

    def save_generator(self, net, stem):
        """A generator file (e.g. best_G) in the configured format; returns its path."""
        path = os.path.join(self.models_dir, f"{stem}.{self.generator_format}")
        return save_network(net, path, fmt=self.generator_format, metadata=self.metadata)

    def save(self, iteration, networks, state):
        files = {}
        for name, net in networks.items():
            files[name] = self.network_file(iteration, name)
            metadata = self.metadata if name in ("G", "G_ema") else None
            fmt = self.generator_format if name in ("G", "G_ema") else "pth"
            save_network(net, os.path.join(self.models_dir, files[name]), fmt=fmt, metadata=metadata)
        state = dict(state, format=STATE_FORMAT, version=STATE_VERSION, iteration=iteration, networks=files)
        inject("checkpoint_write", 0, iteration)
        path = os.path.join(self.state_dir, f"{iteration}.state")
        atomic_write(path, lambda tmp: torch.save(state, tmp))
        self.prune()
        return path

    def prune(self):
        """Delete training states older than the newest keep_last, then network snapshots older than the
        newest keep_last_models that no kept state needs (0 keeps all)."""
        states = list_state_iterations(self.state_dir)
        if self.keep_last > 0:
            for iteration in states[:-self.keep_last]:
                os.remove(os.path.join(self.state_dir, f"{iteration}.state"))
            states = states[-self.keep_last:]
        if self.keep_last_models <= 0:
            return
        snapshots = {}
        for name in os.listdir(self.models_dir):
            parsed = parse_network_file_name(name)
            if parsed and parsed[0].isdigit():
                snapshots.setdefault(int(parsed[0]), []).append(name)
        needed = set(states) | set(sorted(snapshots)[-self.keep_last_models:])
        for iteration, names in snapshots.items():
            if iteration not in needed:
                for name in names:
                    os.remove(os.path.join(self.models_dir, name))


def list_state_iterations(state_dir):
    """Iterations with a state file, ascending (temporary files are ignored)."""
    if not os.path.isdir(state_dir):
        return []
    found = (_STATE_NAME.match(name) for name in os.listdir(state_dir))
    return sorted(int(match.group(1)) for match in found if match)


def read_bundle(state_path):
    """The state and its network state dicts: {"state", "networks": {name: state_dict}}.

    Raises RwsrError naming the file when the state or a network file is unreadable.
    """
    state = safe_torch_load(state_path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise RwsrError(f"{state_path}: not a training state written by this project")
    if state.get("version") != STATE_VERSION:
        raise RwsrError(f"{state_path}: training state version {state.get('version')} is not supported "
                        f"(expected {STATE_VERSION})")
    models_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(state_path))), "models")
    networks = {}
    for name, file_name in state["networks"].items():
        networks[name], _ = read_checkpoint(os.path.join(models_dir, file_name))
    return {"state": state, "networks": networks, "path": state_path}


def find_latest_bundle(state_dir, logger):
    """The newest readable checkpoint in state_dir, or None; unreadable ones are skipped with a warning."""
    for iteration in reversed(list_state_iterations(state_dir)):
        path = os.path.join(state_dir, f"{iteration}.state")
        try:
            return read_bundle(path)
        except RwsrError as err:
            logger.warning("skipping checkpoint of iteration %d: %s; trying the previous one", iteration, err)
    return None

