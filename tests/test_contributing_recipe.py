"""docs/contributing.md "Your own loss or generator", run as written: its files are saved, its commands
run (3 training iterations, one image super-resolved), in a folder outside the package."""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import yaml
from skimage import data as skdata

from conftest import REPO, assert_one_line_error
from rwsr.options import validate
from rwsr.utils.image_io import read_image, write_image

SECTION = ("## Your own loss or generator", "## Tests")


def recipe_blocks():
    with open(os.path.join(REPO, "docs", "contributing.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index(SECTION[0]):text.index(SECTION[1])]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def run(command, cwd):
    tokens = shlex.split(command)
    assert tokens[0] == "python", command
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)  # the recipe's modules are found beside the option file / in the current folder
    return subprocess.run([sys.executable] + tokens[1:], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=env)


def test_the_recipe_trains_and_super_resolves_as_written(tmp_path):
    blocks = recipe_blocks()
    files, snippets, commands = [], [], []
    for language, body in blocks:
        header = re.match(r"# ([\w.]+\.(py|yml))\n", body)
        if header:
            (tmp_path / header.group(1)).write_text(body)
            files.append(header.group(1))
        elif language == "yaml":
            snippets.append(yaml.safe_load(body))
        elif language == "bash":
            commands += [line for line in body.splitlines() if line.strip()]
    assert files == ["my_losses.py", "my_nets.py", "my_experiment.yml"]
    assert len(commands) == 2
    os.symlink(os.path.join(REPO, "codes"), tmp_path / "codes")  # commands run as from the repository root
    photos = {"HR/astronaut.png": skdata.astronaut()[100:220, 150:270], "HR/coffee.png": skdata.coffee()[:96, :144],
              "LR/chelsea.png": skdata.chelsea()[40:80, 100:150]}
    for name, image in photos.items():
        write_image(str(tmp_path / "my_photos" / name), np.ascontiguousarray(image))

    # the loss entry shown alone is the one the option file uses, and valid
    with open(tmp_path / "my_experiment.yml", encoding="utf-8") as handle:
        experiment = yaml.safe_load(handle)
    shown = snippets[0]["train"]["losses"][0]
    assert {k: v for k, v in shown.items() if k != "power"} == experiment["train"]["losses"][0]
    assert validate(dict(experiment, train=dict(experiment["train"], losses=[shown])))["train"]["losses"][0]["power"] == 1

    trained = run(commands[0], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    log = (tmp_path / "experiments" / "tinynet_x3" / "train.log").read_text()
    assert re.search(r"iter:\s+3, .*l_g_edge: \d", log), log[-2000:]
    assert "network G: TinyNet" in log

    without_plugin = commands[1].replace(" --plugin my_nets", "")
    refused = run(without_plugin, tmp_path)
    assert_one_line_error(refused, "my_nets:TinyNet", "--plugin my_nets", "nothing was imported", code=2)
    assert not (tmp_path / "results").exists()

    test = run(commands[1], tmp_path)
    assert test.returncode == 0, test.stderr[-3000:]
    result = read_image(str(tmp_path / "results" / "tinynet_x3" / "chelsea.png"))
    assert result.shape == (120, 150, 3)  # x3

    # an option file finds its plugin module beside itself, whatever the working folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "test_tinynet.yml").write_text(f"""name: tinynet_opt
scale: 3
plugins: [my_nets]
datasets:
  test_1:
    name: photos
    mode: LR
    dataroot_LR: {tmp_path / 'my_photos' / 'LR'}
path:
  pretrain_model_G: {tmp_path / 'experiments' / 'tinynet_x3' / 'models' / '3_G.pth'}
  results_root: {tmp_path / 'results_opt'}
""")
    from_option_file = run(f"python {os.path.join(REPO, 'codes', 'test.py')} -opt {tmp_path / 'test_tinynet.yml'}",
                           elsewhere)
    assert from_option_file.returncode == 0, from_option_file.stderr[-3000:]
    assert read_image(str(tmp_path / "results_opt" / "tinynet_opt" / "photos" / "chelsea.png")).shape == (120, 150, 3)
