"""Load, override, default and validate YAML option files.

Errors are OptionError (one line, exit code 2) naming the full key path.
"""
import copy
import difflib
import math
import os
import re

import yaml

from ..utils.errors import OptionError
from ..utils.registry import is_import_path, plugin_module
from .degradation_checks import check_degradation, hoist_top_level_keys
from .schema import (ALIGN_WEIGHT_DEFAULTS, CR_WEIGHT_DEFAULT, DATASET, DATASETS_KEY, DEGRADATION, GENERAL,
                     LOSS_ARGUMENTS, LOSS_ENTRY, LOSS_VARIANTS, REQUIRED, SECTIONS)

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def read_yaml(path):
    """Parse a YAML file safely; syntax errors name the file, line and column."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise OptionError(f"{path}: cannot read option file ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise OptionError(f"{path}{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of options at the top level")
    return data


def parse_override(text):
    """'a.b.c=value' -> (['a', 'b', 'c'], value typed by YAML rules)."""
    if "=" not in text:
        raise OptionError(f"--set {text}: expected key=value, e.g. --set train.niter=100")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise OptionError(f"--set {text}: empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(raw, overrides):
    for text in overrides or []:
        parts, value = parse_override(text)
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise OptionError(f"--set {text}: {where} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def network_overrides(pairs, scale=None):
    """'KEY=VALUE' texts (test.py --arch) and a scale as validated network_G options (only the keys given)."""
    raw = {}
    for text in pairs:
        parts, value = parse_override(text)
        raw[".".join(parts)] = value
    top = {"name": "cli", "network_G": raw}
    if raw.get("upscale") is not None:  # validated against network_G.upscale
        top["scale"] = raw["upscale"]
    validated = validate(top, phase="test")["network_G"]
    overrides = {key: validated[key] for key in raw}
    if scale:
        overrides["upscale"] = scale
    return overrides


def _suggest(key, valid, prefix):
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    if not close:
        lowered = {k.lower(): k for k in valid}
        close = [lowered[key.lower()]] if key.lower() in lowered else []
    hint = f"; did you mean {prefix}{close[0]}?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    return f"{prefix}{key}: unknown option{hint}"


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _coerce(value, spec, path):
    """Return value converted to spec.kind, or raise naming expected and actual type."""
    if value is None:
        if not spec.nullable:
            raise OptionError(f"{path}: must not be null (expected {spec.kind})")
        return None
    kind = spec.kind
    if kind.startswith("list["):
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce_value(item, kind[5:-1], f"{path}[{i}]") for i, item in enumerate(items)]
    return _coerce_value(value, kind, path)


def _coerce_value(value, kind, path):
    """One value (never a list option; a null list item is an error) converted to kind."""
    if isinstance(value, str) and kind in ("int", "float") and _NUMBER.match(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 as a string
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "map" and isinstance(value, dict):
        return dict(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise OptionError(f"{path}: expected int, got float {value}")
        return int(value)
    raise OptionError(f"{path}: expected {kind}, got {_type_name(value)} ({value!r})")


def _check_choices(value, spec, path):
    if spec.choices is None or value is None:
        return
    for item in value if spec.kind.startswith("list[") else [value]:
        if spec.import_path and is_import_path(item):
            continue  # resolved and checked when the class is built (rwsr.utils.registry)
        if item not in spec.choices:
            extra = " (or an import path module:Class)" if spec.import_path else ""
            raise OptionError(f"{path}: {item!r} is not one of {', '.join(str(c) for c in spec.choices)}{extra}")


def _validate_table(raw, table, prefix, check_required):
    if not isinstance(raw, dict):
        raise OptionError(f"{prefix.rstrip('.')}: expected a section (mapping), got {_type_name(raw)}")
    for key in raw:
        if key not in table:
            raise OptionError(_suggest(str(key), table, prefix))
    resolved = {}
    for key, spec in table.items():
        path = f"{prefix}{key}"
        if key in raw:
            value = _coerce(raw[key], spec, path)
            _check_choices(value, spec, path)
        elif spec.default is REQUIRED:
            if check_required:
                raise OptionError(f"{path}: required option is missing")
            value = None
        else:
            value = copy.deepcopy(spec.default)
        resolved[key] = value
    return resolved


def validate(raw, phase="train"):
    """Defaults applied and every key checked; returns a new plain dict."""
    raw = hoist_top_level_keys(raw)  # Real-ESRGAN's top-level degradation keys
    valid_top = list(GENERAL) + list(SECTIONS) + [DATASETS_KEY]
    for key in raw:
        if key not in valid_top:
            raise OptionError(_suggest(str(key), valid_top + list(DEGRADATION), ""))
    general_raw = {k: v for k, v in raw.items() if k in GENERAL}
    opt = _validate_table(general_raw, GENERAL, "", check_required=True)
    if opt["model"] == "edl":
        opt["model"] = "srgan"
    for section, table in SECTIONS.items():
        present = raw.get(section) is not None
        required = present or (phase == "train" and section == "train")
        opt[section] = _validate_section(raw.get(section) or {}, table, section, required)
    datasets_raw = raw.get(DATASETS_KEY) or {}
    if not isinstance(datasets_raw, dict):
        raise OptionError(f"{DATASETS_KEY}: expected a mapping of dataset names to sections")
    opt[DATASETS_KEY] = {}
    for name, section in datasets_raw.items():
        dataset_phase(str(name))
        opt[DATASETS_KEY][str(name)] = _validate_table(section or {}, DATASET, f"{DATASETS_KEY}.{name}.", True)
    if opt["scale"] < 1:
        raise OptionError(f"scale: {opt['scale']} must be at least 1")
    upscale = opt["network_G"].get("upscale")
    if upscale is None:
        if not is_import_path(opt["network_G"]["which_model_G"]):
            opt["network_G"]["upscale"] = opt["scale"]
    elif upscale != opt["scale"]:
        raise OptionError(f"network_G.upscale: {upscale} differs from scale {opt['scale']}")
    opt["train"]["losses"] = _validate_losses(opt["train"]["losses"] or [])
    opt["plugins"] = _allowed_plugins(opt)
    if opt["crop_border"] is None:
        opt["crop_border"] = opt["scale"]
    if opt["train"]["align_weight"] is None:
        opt["train"]["align_weight"] = ALIGN_WEIGHT_DEFAULTS.get(opt["model"], 0.0)
    if opt["train"]["cr_weight"] is None and opt["model"] in LOSS_VARIANTS:
        opt["train"]["cr_weight"] = CR_WEIGHT_DEFAULT
    if phase == "train":
        _check_training(opt)
        _check_generator_objective(opt["model"], opt["train"])
        _check_branch_losses(opt)
    return opt


def _validate_section(raw, table, section, required):
    """A section of SECTIONS; a network named by an import path keeps its other keys as given: they are
    the class's keyword arguments, checked against its constructor when it is built."""
    name_key = {"network_G": "which_model_G", "network_D": "which_model_D"}.get(section)
    if name_key and isinstance(raw, dict) and is_import_path(raw.get(name_key)):
        return dict(raw)
    return _validate_table(raw, table, f"{section}.", required)


# Term names of the models' own losses (l_g_<name> in the log): an entry of train.losses may not reuse them.
BUILT_IN_TERMS = ("pix", "pix1", "pix2", "fea", "gan", "gan1", "gan2", "cr", "align", "excl", "total")
# Registered losses that compare the two EDL branches with each other instead of an output with HR.
BRANCH_LOSSES = ("exclusion",)


def _validate_losses(entries):
    """train.losses: each entry's reserved keys (LOSS_ENTRY) checked and defaulted; a registered loss's other
    keys checked against its table, an import path's kept as given (checked when the loss is built)."""
    resolved, names = [], {}
    for index, entry in enumerate(entries):
        where = f"train.losses[{index}]"
        fixed = {key: value for key, value in entry.items() if key in LOSS_ENTRY}
        kwargs = {key: value for key, value in entry.items() if key not in LOSS_ENTRY}
        if entry.get("type") == "gan":
            raise OptionError(f"{where}.type: gan is the adversarial loss against network_D, not a loss(output, gt); "
                              "set train.gan_weight")
        spec = _validate_table(fixed, LOSS_ENTRY, f"{where}.", check_required=True)
        loss_type = spec["type"]
        if not is_import_path(loss_type):
            kwargs = _validate_table(kwargs, LOSS_ARGUMENTS[loss_type], f"{where}.", check_required=True)
            if loss_type in BRANCH_LOSSES:
                if entry.get("output") is not None:
                    raise OptionError(f"{where}.output: {loss_type} compares y_p with y_1; drop output")
                spec["output"] = None
        name = spec["name"] or (loss_type.rsplit(":", 1)[-1] if is_import_path(loss_type) else loss_type)
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise OptionError(f"{where}.name: {name!r} must be a plain identifier (it is logged as l_g_<name>)")
        if name in BUILT_IN_TERMS or name in names:
            taken = f"train.losses[{names[name]}]" if name in names else "a term of the models' own losses"
            raise OptionError(f"{where}.name: {name} is already {taken}; set its name:")
        names[name] = index
        resolved.append(dict(spec, name=name, **kwargs))
    return resolved


def _allowed_plugins(opt):
    """Modules that may be imported: those of `plugins:` and those the file names in an import path."""
    named = [opt["network_G"].get("which_model_G"), opt["network_D"].get("which_model_D")]
    named += [entry["type"] for entry in opt["train"]["losses"]]
    modules = list(opt["plugins"] or [])
    for name in named:
        if is_import_path(name) and plugin_module(name) not in modules:
            modules.append(plugin_module(name))
    return modules


def _check_branch_losses(opt):
    """Losses on y_p and y_1 need a generator with both branches and a model that reads them.

    A plugin generator's outputs are known only at its first forward (the model checks then)."""
    single = opt["network_G"].get("which_model_G") == "RRDB"
    what = "which_model_G: RRDB returns only y" if single else "model sr trains the pixel loss of y"
    if single and opt["model"] in LOSS_VARIANTS:
        raise OptionError(f"model: {opt['model']} weighs the branches y_p and y_1, but which_model_G: RRDB returns only "
                          "y; use which_model_G: RRDBNet, or model: srgan for the plain ESRGAN objective")
    if opt["train"]["exclusion_weight"] and (single or opt["model"] == "sr"):
        raise OptionError(f"train.exclusion_weight: {opt['train']['exclusion_weight']} cannot apply ({what}); the "
                          "exclusion of y_p and y_1 needs which_model_G: RRDBNet and a GAN model, or set it to 0")
    for index, entry in enumerate(opt["train"]["losses"]):
        if single and (entry["output"] in ("y_p", "y_1") or entry["type"] in BRANCH_LOSSES):
            raise OptionError(f"train.losses[{index}]: {entry['name']} needs the branches y_p, y_1, but "
                              "which_model_G: RRDB returns only y; use output: y or which_model_G: RRDBNet")


def _check_generator_objective(model, train):
    """The loss variants combine the weighted pixel, feature and relativistic GAN terms."""
    if model in LOSS_VARIANTS:
        if train["gan_type"] != "ragan":
            raise OptionError(f"train.gan_type: model {model} is built on the relativistic loss; "
                              f"set gan_type: ragan (got {train['gan_type']!r})")
        needed = ("pixel_weight", "feature_weight", "gan_weight")
    elif model == "srgan" and train["align_weight"]:
        needed = ("pixel_weight", "feature_weight")
    else:
        return
    for key in needed:
        if train[key] is None or train[key] <= 0:
            what = f"model {model}" if model in LOSS_VARIANTS else "train.align_weight > 0"
            raise OptionError(f"train.{key}: {what} needs a positive {key} (got {train[key]})")


def _check_training(opt):
    datasets = opt[DATASETS_KEY]
    if not any(dataset_phase(name) == "train" for name in datasets):
        raise OptionError("datasets.train: required training dataset is missing")
    for name, ds in datasets.items():
        if dataset_phase(name) == "train":
            if ds["GT_size"] % opt["scale"]:
                raise OptionError(f"datasets.{name}.GT_size: {ds['GT_size']} is not a multiple of scale {opt['scale']}")
            if ds["aug"] == "noise" and not ds["noise_data"]:
                raise OptionError(f"datasets.{name}.noise_data: required when aug is noise")
        if ds["mode"] == "LQGT" and not ds["dataroot_GT"]:
            raise OptionError(f"datasets.{name}.dataroot_GT: required for mode LQGT")
        if dataset_phase(name) == "val" and ds["mode"] != "LQGT":
            raise OptionError(f"datasets.{name}.mode: validation compares with GT; use mode LQGT")
    _check_validation(opt["val"], [name for name in datasets if dataset_phase(name) == "val"])
    check_degradation(opt, dataset_phase)


def _check_validation(val, val_sets):
    """best_G is chosen by one metric of one validation set; fill in the direction."""
    if val["best_metric"] is not None and val["best_metric"] not in val["metrics"]:
        raise OptionError(f"val.best_metric: {val['best_metric']} is not among val.metrics "
                          f"({', '.join(val['metrics'])}); add it there or choose another")
    if val["best_dataset"] is not None and val["best_dataset"] not in val_sets:
        known = ", ".join(val_sets) or "none"
        raise OptionError(f"val.best_dataset: {val['best_dataset']} is not a validation set (datasets: {known})")
    if val["best_mode"] is None and val["best_metric"] is not None:  # null best_metric: chosen at training start
        val["best_mode"] = "min" if val["best_metric"] == "lpips" else "max"


def dataset_phase(name):
    """Official convention: the dataset's key says its phase (train, val, test_1, ...)."""
    lowered = name.lower()
    for phase in ("train", "val", "test"):
        if lowered.startswith(phase):
            return phase
    raise OptionError(f"datasets.{name}: dataset names must start with train, val or test")


def load_options(path, overrides=None, phase="train"):
    """Read path, apply `--set` overrides, fill defaults and validate."""
    raw = read_yaml(path)
    raw = apply_overrides(raw, overrides)
    opt = validate(raw, phase=phase)
    opt["opt_path"] = os.path.abspath(path)
    return opt


def dump_options(opt):
    """Resolved options as YAML text (key order kept)."""
    clean = {k: v for k, v in opt.items() if k != "opt_path"}
    return yaml.safe_dump(clean, sort_keys=False, default_flow_style=None)
