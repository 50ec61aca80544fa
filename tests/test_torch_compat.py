"""The supported torch range: version guards, fallbacks for older releases, the floor in requirements and docs."""
import os
import re
import subprocess

import pytest
import torch
from torch import nn

from conftest import REPO
from rwsr.inference.onnx_export import DYNAMO_TORCH, export_onnx
from rwsr.utils.errors import RwsrError
from rwsr.utils.torch_compat import grad_scaler, require_torch, torch_at_least, torchscript_onnx_kwargs


def _read(*parts):
    with open(os.path.join(REPO, *parts), encoding="utf-8") as handle:
        return handle.read()


def test_version_comparison_reads_major_and_minor(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.10.0+cu126")  # 10 > 9 as numbers, not as text
    assert torch_at_least("2.9") and torch_at_least("2.10") and not torch_at_least("2.11")
    monkeypatch.setattr(torch, "__version__", "2.5.0a0+git1234")
    assert torch_at_least("2.5") and not torch_at_least("2.6") and torch_at_least("1.13")


def test_a_feature_above_the_running_torch_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.4.1+cu121")
    with pytest.raises(RwsrError) as caught:
        require_torch("2.5", "--exporter dynamo")
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    assert message.startswith("--exporter dynamo needs torch>=2.5") and "2.4.1+cu121" in message
    monkeypatch.setattr(torch, "__version__", "2.5.0")
    require_torch("2.5", "--exporter dynamo")  # met: nothing raised


def test_dynamo_export_on_an_older_torch_stops_before_writing(monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "__version__", "2.4.0")
    path = tmp_path / "G.onnx"
    with pytest.raises(RwsrError, match=re.escape(f"--exporter dynamo needs torch>={DYNAMO_TORCH}")):
        export_onnx(nn.Conv2d(3, 3, 3, padding=1), str(path), exporter="dynamo")
    assert not path.exists()


def test_torchscript_export_selects_its_exporter_only_where_the_keyword_exists(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.4.1")
    assert torchscript_onnx_kwargs() == {}  # torch.onnx.export has no `dynamo` before 2.5
    monkeypatch.setattr(torch, "__version__", "2.9.0")
    assert torchscript_onnx_kwargs() == {"dynamo": False}  # dynamo is the default from 2.9 on


@pytest.mark.filterwarnings("ignore:.*GradScaler.*is deprecated:FutureWarning")
@pytest.mark.parametrize("without_torch_amp_scaler", [False, True])
def test_grad_scaler_without_fp16_passes_losses_and_steps_through(monkeypatch, without_torch_amp_scaler):
    if without_torch_amp_scaler:  # torch < 2.3: only torch.cuda.amp.GradScaler
        monkeypatch.delattr(torch.amp, "GradScaler")
    scaler = grad_scaler("cpu", enabled=False)
    assert not scaler.is_enabled()
    weight = nn.Parameter(torch.tensor([1.0, 2.0]))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    loss = (weight ** 2).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(weight.detach(), torch.tensor([0.0, 0.0]))  # w - 0.5 * 2w
    assert scaler.state_dict() == {}


def _floor(text, package):
    found = re.findall(rf"^{package}>=([\d.]+)\s*$", text, re.M)
    assert len(found) == 1, f"requirements.txt: one '{package}>=X.Y' line expected"
    return found[0]


def test_requirements_floor_is_the_one_the_docs_state():
    requirements = _read("requirements.txt")
    section = _read("docs", "contributing.md").split("## Supported versions", 1)[1].split("\n## ", 1)[0]
    stated = re.search(r"Floor: `torch>=([\d.]+)`, `torchvision>=([\d.]+)`", section)
    assert stated, "docs/contributing.md, Supported versions: the 'Floor: `torch>=X`, `torchvision>=Y`' line"
    assert stated.groups() == (_floor(requirements, "torch"), _floor(requirements, "torchvision"))
    assert "make check-floor" in section and "check-floor:" in _read("Makefile")


@pytest.mark.parametrize("where", ["inside the repository", "an existing folder that is not a venv"])
def test_check_floor_refuses_a_venv_path_it_must_not_delete(tmp_path, where):
    venv = os.path.join(REPO, "floor-venv") if where == "inside the repository" else str(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run(["bash", os.path.join(REPO, "tests", "floor", "check_floor.sh")], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, FLOOR_VENV=venv))
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "FLOOR_VENV" in result.stderr
    assert not os.path.exists(os.path.join(REPO, "floor-venv")) and (tmp_path / "keep.txt").read_text() == "mine"
