"""Presets for `--dataset NAME --artifacts KIND`, read from a paths.yml file.

A preset names the source and target photo folders, the noise settings and
(under `datasets:`) the root of the generated data. Where the file is, and
what its relative paths are relative to (the project root):

- Run from a clone (`python preprocess/*.py`, or the rwsr-* commands of an
  editable install), the project root is the clone, wherever the command is
  started: the default file is `<clone>/preprocess/paths.yml`, and relative
  paths, in it or in a `--paths` file, are relative to the clone, like the
  paths in options/.
- Installed with `pip install .`, the package lies outside any clone and the
  project root is the current directory: the default file is
  `./preprocess/paths.yml`. Run the command from the folder that holds
  `preprocess/`, or pass `--paths FILE`.

The file is not shipped inside the package: it is the user's to edit.
"""
import os

import yaml

from ..utils.errors import RwsrError

PATHS_FILE = os.path.join("preprocess", "paths.yml")


def clone_root():
    """The clone this package runs from (the folder holding codes/rwsr and preprocess/), or None."""
    codes = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    root = os.path.dirname(codes)
    if os.path.basename(codes) == "codes" and os.path.isdir(os.path.join(root, "preprocess")):
        return root
    return None


def project_root():
    return clone_root() or os.getcwd()


def default_paths_file():
    return os.path.join(project_root(), PATHS_FILE)


def _resolve(path):
    return os.path.normpath(os.path.join(project_root(), os.path.expanduser(str(path))))


def _read_presets(paths_file, is_default):
    try:
        with open(paths_file, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or {}
    except OSError as err:
        hint = "; run from the folder that holds preprocess/ or pass --paths FILE" \
            if is_default and clone_root() is None else ""
        raise RwsrError(f"{paths_file}: cannot read presets ({err.strerror}){hint}", exit_code=2) from None
    except yaml.YAMLError as err:
        raise RwsrError(f"{paths_file}: not valid YAML ({str(err).splitlines()[0]})", exit_code=2) from None


def load_preset(paths_file, dataset, artifacts):
    """The folders and settings of `<dataset>.<artifacts>` with paths made absolute.

    paths_file None reads the default file. Returns dict(source, target or
    None, root, noise: dict, key, file).
    """
    is_default = paths_file is None
    paths_file = default_paths_file() if is_default else paths_file
    paths = _read_presets(paths_file, is_default)
    presets = [f"{name}.{kind}" for name, kinds in paths.items() if name != "datasets" and isinstance(kinds, dict)
               for kind in kinds]
    entry = (paths.get(dataset) or {}).get(artifacts) if isinstance(paths.get(dataset), dict) else None
    if not isinstance(entry, dict):
        raise RwsrError(f"{paths_file}: no preset {dataset}.{artifacts}; available: {', '.join(presets) or 'none'}",
                        exit_code=2)
    root = (paths.get("datasets") or {}).get(dataset)
    if not root:
        raise RwsrError(f"{paths_file}: datasets.{dataset} is not set; give the folder for the generated data",
                        exit_code=2)
    if not entry.get("source") and not entry.get("target"):
        raise RwsrError(f"{paths_file}: {dataset}.{artifacts} names neither source nor target", exit_code=2)
    return {
        "source": _resolve(entry["source"]) if entry.get("source") else None,
        "target": _resolve(entry["target"]) if entry.get("target") else None,
        "root": _resolve(root),
        "noise": dict(entry.get("noise") or {}),
        "key": f"{dataset}.{artifacts}",
        "file": paths_file,
    }


def check_preset_folder(preset, role):
    folder = preset[role]
    if folder and not os.path.isdir(folder):
        raise RwsrError(f"{preset['file']}: {preset['key']}.{role} {folder} is not a folder; "
                        "edit the path in paths.yml", exit_code=2)
