"""The published official training step against ours, bit for bit (opt-in).

Needs a snapshot of github.com/House-Leo/RWSR-EDL: set RWSR_OFFICIAL_GIT to its git directory
(`make check-official OFFICIAL_GIT=...`). The official code runs in a child process (its
top-level packages `models`, `options`, `data`, `utils` would clash with other tests).
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

OFFICIAL_GIT = os.environ.get("RWSR_OFFICIAL_GIT")

CHECK = r"""
import json, sys
sys.path[:0] = [sys.argv[1] + "/codes", sys.argv[1] + "/bench"]
import torch
from official_peer import load_official
from rwsr.models import build_model
from rwsr.options import validate
from rwsr.runtime import cpu_runtime
from rwsr.utils.logger import get_logger

torch.set_num_threads(1)
train = {"lr_G": 1e-3, "lr_D": 1e-3, "pixel_weight": 0.5, "feature_weight": 0.2, "gan_weight": 0.3,
         "lr_steps": [2, 5], "lr_gamma": 0.25, "restarts": [3], "restart_weights": [0.5], "clear_state": True}
torch.manual_seed(0)
peer = load_official(sys.argv[2], work_dir=sys.argv[3], nf=8, nb=1, d_nf=8, batch=2, gt_size=32, train=train)
raw = {"name": "eq", "model": "srgan", "scale": 4, "device": "cpu",
       "datasets": {"train": {"dataroot_GT": "unused", "batch_size": 2, "GT_size": 32}},
       "network_G": {"which_model_G": "RRDBNet", "nf": 8, "nb": 1, "gc": 32},
       "network_D": {"which_model_D": "NLayerDiscriminator", "nf": 8, "nlayer": 3},
       "train": dict(train, niter=6, feature_pretrained=False, feature_layer="conv5_4", cr_weight=1e-3)}
ours = build_model(validate(raw), cpu_runtime(), get_logger())
peer.copy_weights_to(ours)
data = torch.Generator().manual_seed(1)
rates = []
for iteration in range(1, 7):
    gt = torch.rand(2, 3, 32, 32, generator=data)
    lq = torch.nn.functional.avg_pool2d(gt, 4)
    peer.step(iteration, lq.clone(), gt.clone())
    ours.update_learning_rate(iteration)
    ours.optimize(iteration, lq, gt)
    rates.append((peer.learning_rates(), [o.lr for o in ours.optimizers.values()]))
nets = peer.networks()
diff = {}
for name, net in (("G", ours.net_g), ("D", ours.net_d)):
    theirs = nets[name].state_dict()
    diff[name] = max(float((value.double() - theirs[key].double()).abs().max()) for key, value in net.state_dict().items())
print(json.dumps({"diff": diff, "rates": rates}))
"""


@pytest.mark.skipif(not OFFICIAL_GIT, reason="set RWSR_OFFICIAL_GIT to a snapshot of the official repository")
def test_six_steps_with_a_restart_equal_the_official_step_bitwise(tmp_path):
    result = subprocess.run([sys.executable, "-c", CHECK, REPO, OFFICIAL_GIT, str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["diff"] == {"G": 0.0, "D": 0.0}, report["diff"]
    for official, ours in report["rates"]:
        assert official == ours
