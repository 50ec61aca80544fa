"""Key renaming between checkpoint conventions.

Ours (= official ESRGAN / RWSR-EDL): conv_first, RRDB_trunk.N.RDBk.convj, trunk_conv, upconv1,
upconv2, HRconv, conv_last. BasicSR / Real-ESRGAN: conv_first, body.N.rdbk.convj, conv_body,
conv_up1, conv_up2, conv_hr, conv_last.
"""
import re

WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")  # preference order

# Key prefixes in BasicSR's RRDBNet and here; {n} is the block number, {k} the dense block's.
_PREFIX_PAIRS = [("body.{n}.rdb{k}.", "RRDB_trunk.{n}.RDB{k}."), ("conv_body.", "trunk_conv."),
                 ("conv_up1.", "upconv1."), ("conv_up2.", "upconv2."), ("conv_hr.", "HRconv.")]


def _rule(source, target):
    """A regex for the source prefix and its replacement (the numbers carried over)."""
    pattern = "^" + re.escape(source).replace(r"\{n\}", r"(\d+)").replace(r"\{k\}", r"(\d)")
    return re.compile(pattern), target.replace("{n}", r"\1").replace("{k}", r"\2")


_BASICSR_TO_OURS = [_rule(basicsr, ours) for basicsr, ours in _PREFIX_PAIRS]
_OURS_TO_BASICSR = [_rule(ours, basicsr) for basicsr, ours in _PREFIX_PAIRS]


def strip_module_prefix(state):
    """Drop the `module.` prefixes DataParallel / DistributedDataParallel add (possibly nested)."""
    renamed = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key[len("module."):]
        renamed[key] = value
    return renamed


def is_basicsr_rrdbnet(state):
    return "conv_body.weight" in state or any(key.startswith("body.") and ".rdb" in key for key in state)


def _rename(state, rules):
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key, count = pattern.subn(replacement, key)
            if count:
                break
        renamed[key] = value
    return renamed


def from_basicsr_names(state):
    return _rename(state, _BASICSR_TO_OURS)


def to_basicsr_names(state):
    """Our generator keys in BasicSR's RRDBNet naming (EDL head keys are left unchanged)."""
    return _rename(state, _OURS_TO_BASICSR)


def normalise_keys(state):
    """Strip `module.` and map BasicSR names to ours; returns (state, convention)."""
    state = strip_module_prefix(state)
    if is_basicsr_rrdbnet(state):
        return from_basicsr_names(state), "basicsr"
    return state, "rwsr"
