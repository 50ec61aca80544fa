"""Which checkpoint a run resumes from, and checks that it belongs to the options it is resumed with."""
import random

import yaml

from ..utils.errors import RwsrError
from ..utils.experiment import experiment_paths
from .checkpoints import find_latest_bundle, read_bundle

_IDENTITY_KEYS = ("model", "scale")
# Keys that may change between runs without changing the networks.
_FREE_KEYS = {"network_D": ("sync_bn",)}


def saved_options(state):
    return yaml.safe_load(state.get("options") or "{}") or {}


def _fix_hint(path):
    return (f"{path} was saved by another configuration; resume with the option file of that run, "
            "or start a new experiment without --auto_resume/path.resume_state")


def _first_difference(saved, current, section):
    free = _FREE_KEYS.get(section, ())
    for key in sorted(set(saved) | set(current)):
        if key not in free and saved.get(key) != current.get(key):
            return key
    return None


def check_compatible(state, opt, path):
    """RwsrError naming the first key whose value differs in a way that changes the networks."""
    saved = saved_options(state)
    for key in _IDENTITY_KEYS:
        if saved.get(key) != opt[key]:
            raise RwsrError(f"{key}: {path} was saved with {key}={saved.get(key)!r}, the options say "
                            f"{opt[key]!r}; " + _fix_hint(path), exit_code=2)
    sections = ("network_G",) if opt["model"] == "sr" else ("network_G", "network_D")
    for section in sections:
        key = _first_difference(saved.get(section) or {}, opt[section], section)
        if key is not None:
            raise RwsrError(f"{section}.{key}: {path} was saved with {(saved.get(section) or {}).get(key)!r}, "
                            f"the options say {opt[section].get(key)!r}; " + _fix_hint(path), exit_code=2)


def check_networks_present(bundle, expected_names):
    saved_names = set(bundle["networks"])
    expected = set(expected_names)
    if saved_names != expected:
        hint = " (train.ema_decay or train.gan_weight changed?)"
        raise RwsrError(f"path.resume_state: {bundle['path']} holds networks {sorted(saved_names)} but these "
                        f"options train {sorted(expected)}{hint}", exit_code=2)


def changed_training_keys(state, opt):
    """'section.key' of training options that differ from the saved run (for a warning)."""
    saved = saved_options(state)
    changed = []
    for section in ("train", "logger"):
        before, now = saved.get(section) or {}, opt.get(section) or {}
        changed += [f"{section}.{key}" for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
    before, now = (saved.get("datasets") or {}).get("train") or {}, opt["datasets"].get("train") or {}
    changed += [f"datasets.train.{key}" for key in sorted(set(before) | set(now)) if before.get(key) != now.get(key)]
    return changed


def read_resume_bundle(opt, auto_resume, logger):
    """The checkpoint to resume from (path.resume_state, else the newest with --auto_resume) or None."""
    explicit = opt["path"]["resume_state"]
    if explicit:
        bundle = read_bundle(explicit)
    elif auto_resume:
        state_dir = experiment_paths(opt)["training_state"]
        bundle = find_latest_bundle(state_dir, logger)
        if bundle is None:
            logger.info("--auto_resume: no readable training state in %s; starting from scratch", state_dir)
    else:
        return None
    if bundle is not None:
        check_compatible(bundle["state"], opt, bundle["path"])
    return bundle


def resolve_seed(opt, bundle, runtime):
    """The saved run's seed when resuming, else manual_seed, else a random one (same on every rank)."""
    if bundle is not None:
        seed = bundle["state"]["seed"]
    elif opt["train"]["manual_seed"] is not None:
        seed = opt["train"]["manual_seed"]
    else:
        seed = runtime.broadcast(random.randint(1, 10000))
    opt["train"]["manual_seed"] = seed
    return seed
