"""The README and docs/ say what the code does: the option reference is the schema's, links
resolve, and every command shown is run by a test or parsed by the command's own parser.

The README's workflow is run end to end here, on photos from scikit-image with a tiny network
(placeholders such as CAMERA_PHOTOS become real folders). Commands that need data, weights or
hardware a test cannot have (DF2K, ImageNet VGG, eight GPUs) are parsed by their command's
argument parser, and the files they name in the repository must exist.
"""
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from skimage import data as skdata

from conftest import CODES, REPO
from rwsr.options.doc import reference_page
from rwsr.utils.errors import RwsrError
from rwsr.utils.image_io import write_image

DOCS = [os.path.join(REPO, "README.md")] + sorted(
    os.path.join(REPO, "docs", name) for name in os.listdir(os.path.join(REPO, "docs")) if name.endswith(".md"))
COMMAND_STARTS = ("python ", "make ", "torchrun ", "rwsr-")
SCRIPTS = {"codes/train.py": "train", "codes/test.py": "test", "codes/export_onnx.py": "export_onnx",
           "codes/interpolate.py": "interpolate",
           "codes/demo.py": "demo", "codes/ablation.py": "ablation",
           "preprocess/create_bicubic_dataset.py": "create_bicubic_dataset",
           "preprocess/collect_noise.py": "collect_noise", "preprocess/create_lmdb.py": "create_lmdb",
           "preprocess/ngdc.py": "ngdc"}


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def documented_commands():
    """(file, command) for every command line in ```bash blocks and inline code of the docs."""
    found = []
    for path in DOCS:
        text = read(path)
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\s+#.*$", "", line).strip()
                if command and not command.startswith("#"):
                    found.append((os.path.relpath(path, REPO), command))
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        found += [(os.path.relpath(path, REPO), span) for span in re.findall(r"`([^`]+)`", prose)
                  if span.startswith(COMMAND_STARTS) and " " in span]  # a bare `rwsr-train` is a name
    return found


def makefile_targets():
    return set(re.findall(r"^([\w-]+):", read(os.path.join(REPO, "Makefile")), re.M))


def console_scripts():
    entries = re.findall(r'"(rwsr-[\w-]+)=rwsr\.cli\.(\w+):main"', read(os.path.join(REPO, "setup.py")))
    return dict(entries)


def parse_with_the_command(module_name, args):
    """The command's own argparse accepts args (flags, choices, types)."""
    module = importlib.import_module(f"rwsr.cli.{module_name}")
    try:
        module.build_parser().parse_args(args)
    except SystemExit as stop:
        raise AssertionError(f"{module_name} rejects {args}") from stop
    except RwsrError as err:
        raise AssertionError(f"{module_name} rejects {args}: {err}") from err


def check_command(command):
    """Parse a documented command; returns the (script, args) it runs, or None for make and module runs."""
    tokens = shlex.split(re.sub(r"\[[^\]]*\]", "", command))  # [--optional flags] are not given
    if tokens[0] == "make":
        assert {token for token in tokens[1:] if "=" not in token} <= makefile_targets(), command
        return None
    if tokens[0] == "torchrun":
        scripts = [i for i, token in enumerate(tokens) if token.endswith(".py")]
        assert scripts, f"{command}: no script"
        tokens = ["python"] + tokens[scripts[0]:]
    if tokens[0].startswith("rwsr-"):
        parse_with_the_command(console_scripts()[tokens[0]], tokens[1:])
        return None
    assert tokens[0] == "python", command
    if tokens[1] == "-m":
        importlib.import_module(tokens[2])
        return None
    script, args = tokens[1], tokens[2:]
    assert os.path.isfile(os.path.join(REPO, script)), f"{command}: {script} does not exist"
    if script in SCRIPTS:
        parse_with_the_command(SCRIPTS[script], args)
    for token in args:  # option files of the repository that a command names must be there
        if re.match(r"^options/(df2k|demo|ablation)/[\w.]+\.yml$", token):
            assert os.path.isfile(os.path.join(REPO, token)), f"{command}: {token} does not exist"
    return script, args


@pytest.mark.parametrize("source, command", documented_commands())
def test_documented_command_is_accepted_by_its_parser(source, command):
    check_command(command)


def test_docs_show_commands():
    assert len(documented_commands()) > 30


# ---------------------------------------------------------------- pages
def test_option_reference_page_is_the_schema():
    assert read(os.path.join(REPO, "docs", "options.md")) == reference_page(), "run `make docs`"


def test_readme_is_short_and_links_every_doc_page():
    readme = read(os.path.join(REPO, "README.md"))
    assert len(readme.splitlines()) < 300
    for path in DOCS[1:]:
        assert f"(docs/{os.path.basename(path)})" in readme, os.path.basename(path)


def github_anchor(heading):
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: os.path.relpath(p, REPO))
def test_relative_links_and_anchors_resolve(path):
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        assert os.path.exists(linked), f"{os.path.relpath(path, REPO)}: {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", read(linked), re.M)
            assert anchor in {github_anchor(h) for h in headings}, f"{os.path.relpath(path, REPO)}: {target}"


# ---------------------------------------------------------------- the README workflow, run
TINY_TRAINING = {
    "name": "mine", "model": "srgan", "scale": 4, "device": "cpu",
    "datasets": {"train": {"name": "mine", "mode": "LQGT", "aug": "noise",
                           "noise_data": "datasets/mine/Corrupted_noise",
                           "dataroot_GT": "datasets/mine/generated/tdsr/HR",
                           "dataroot_LQ": "datasets/mine/generated/tdsr/LR",
                           "n_workers": 0, "batch_size": 2, "GT_size": 32}},
    "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 8},
    "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 2},
    "path": {"pretrained_backbones": "no_backbones"},
    "train": {"niter": 2, "feature_layer": "conv1_2", "feature_pretrained": False, "manual_seed": 0,
              "val_freq": 1000},
    "logger": {"print_freq": 1, "save_checkpoint_freq": 2},
}


def camera_photo(name, seed):
    """A 512x512 photo with real noise on flat areas (so collect_noise finds patches)."""
    img = getattr(skdata, name)()[:512, :512, :3].astype(np.float64)
    img[:256, :256] = 128.0  # a flat wall
    noisy = img + np.random.default_rng(seed).normal(0.0, 3.0, img.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A user's project folder: the repository's code, their photos and their option file."""
    root = tmp_path_factory.mktemp("workflow")
    for name in ("codes", "preprocess"):
        os.symlink(os.path.join(REPO, name), root / name)
    for index, name in enumerate(("astronaut", "coffee", "chelsea")):
        write_image(str(root / "CAMERA_PHOTOS" / f"{name}.png"), camera_photo(name, index))
    for name in ("rocket", "immunohistochemistry"):
        photo = getattr(skdata, name)()[:256, :256, :3]
        write_image(str(root / "CLEAN_PHOTOS" / f"{name}.png"), np.ascontiguousarray(photo))
    os.makedirs(root / "options" / "mine")
    with open(root / "options" / "mine" / "train.yml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(TINY_TRAINING, handle, sort_keys=False)
    return root


def run_in(root, script, args, timeout=600):
    env = dict(os.environ, PYTHONPATH=CODES, OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, script, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_the_readme_workflow_runs(sandbox):
    readme = read(os.path.join(REPO, "README.md"))
    block = readme[readme.index("## Workflow"):]
    block = re.search(r"```bash\n(.*?)```", block, re.S).group(1)
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.replace("\\\n", " ").splitlines()]
    commands = [command for command in commands if command and not command.startswith("#")]
    ran = []
    for command in commands:
        script, args = check_command(command)
        if command.startswith("torchrun"):
            continue  # eight processes: parsed above; DDP itself runs in tests/test_train_ddp.py
        args = [arg for arg in args if arg not in ("[--gt", "HR_DIR]")]
        if script == "codes/test.py":  # the generator of the last iteration, the LR photos
            generator = sorted((sandbox / "experiments" / "mine" / "models").glob("*_G.pth"))[-1]
            args = [str(generator) if a.startswith("experiments/") else a for a in args]
            args = [str(sandbox / "datasets" / "mine" / "generated" / "tdsr" / "LR") if a == "LR_DIR" else a
                    for a in args]
        result = run_in(sandbox, script, args)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
        ran.append(script)
    assert ran.count("codes/train.py") == 2 and "codes/test.py" in ran
    lr_images = os.listdir(sandbox / "datasets" / "mine" / "generated" / "tdsr" / "LR")
    outputs = sorted(lr_images + ["metrics.csv", "metrics.json"])  # NIQE: the README's test.py has no --gt
    assert sorted(os.listdir(sandbox / "OUT_DIR")) == outputs and len(lr_images) == 5
    assert (sandbox / "datasets" / "mine" / "HR.lmdb" / "data.mdb").exists()
    shutil.rmtree(sandbox / "experiments", ignore_errors=True)
