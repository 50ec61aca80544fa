"""The official RWSR-EDL training step, run offline on the CPU next to ours.

The official code is imported at run time from a `git archive` snapshot of its repository,
extracted into a scratch folder; nothing of it is copied into this repository and no
extracted file is edited. What an offline CPU run needs is changed at import time or in the
option dict, and every such change is listed in `OfficialPeer.patches`.

    peer = load_official(git_dir, nf=16, nb=2, d_nf=16)
    peer.copy_weights_to(model)   # official G, D and VGG weights into our EDLModel
    logs = peer.step(iteration, lq, gt)
"""
import functools
import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

import torch

OPTIONS_FILE = os.path.join("options", "df2k", "train_ntire.yml")


def git_head(git_dir):
    return subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()


def extract_snapshot(git_dir, dest):
    """Write `git archive HEAD` of git_dir into dest (which must not exist yet or be empty)."""
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        raise FileExistsError(f"{dest} is not empty")
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "--format=tar", "HEAD"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")


def _offline_torchvision(patches):
    """vgg19 / alexnet(pretrained=True) -> random weights; the official code asks for downloads."""
    import torchvision.models as tvm
    for name, module_name in (("vgg19", "torchvision.models.vgg"), ("alexnet", "torchvision.models.alexnet")):
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        if not getattr(original, "_offline", False):
            @functools.wraps(original)
            def offline(*args, _original=original, **kwargs):
                kwargs.pop("pretrained", None)
                kwargs["weights"] = None
                return _original(*args, **kwargs)
            offline._offline = True
            setattr(module, name, offline)
            setattr(tvm, name, offline)
        patches.append(f"torchvision.models.{name}(pretrained=True) -> weights=None (offline; the VGG weights "
                       "are copied over by copy_weights_to, LPIPS' AlexNet is unused in the step)")


def _import_from(codes):
    """Put codes first on sys.path; refuse if its top-level packages came from elsewhere already."""
    for name in ("models", "options", "utils", "data"):
        loaded = sys.modules.get(name)
        origin = getattr(loaded, "__file__", None) or ""
        if loaded is not None and not os.path.abspath(origin).startswith(codes + os.sep):
            raise RuntimeError(f"module {name!r} is already imported from {origin or loaded}; "
                               "load the official code in a fresh process or reuse the same work_dir")
    if codes not in sys.path:
        sys.path.insert(0, codes)


def _read(path):
    with open(path) as f:
        return f.read()


def _bare(net):
    return net.module if hasattr(net, "module") else net


def _strip_module(state):
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _merge(base, changes):
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


class OfficialPeer:
    """An official SRGANModel built from the extracted snapshot, with our step interface."""

    def __init__(self, model, opt, codes_dir, commit, patches):
        self.model, self.opt, self.codes_dir, self.commit, self.patches = model, opt, codes_dir, commit, patches

    def networks(self):
        """Bare official networks by our names: G, D and F (the VGG feature extractor)."""
        return {"G": _bare(self.model.netG), "D": _bare(self.model.netD), "F": _bare(self.model.netF)}

    def copy_weights_to(self, project_model):
        """Load the official G, D and VGG weights (and buffers) into our EDLModel, strictly."""
        nets = self.networks()
        project_model.net_g.load_state_dict(_strip_module(nets["G"].state_dict()))
        project_model.net_d.load_state_dict(_strip_module(nets["D"].state_dict()))
        vgg = project_model.feature_loss.vgg
        vgg.features.load_state_dict(_strip_module(nets["F"].features.state_dict()))
        for name in ("mean", "std"):  # ImageNet normalisation: constants on both sides
            if not torch.equal(getattr(vgg, name), getattr(nets["F"], name)):
                raise ValueError(f"VGG input normalisation differs ({name})")

    def step(self, iteration, lq, gt):
        """One official training iteration (train.py's loop body); returns a copy of its log."""
        self.model.update_learning_rate(iteration, warmup_iter=self.opt["train"]["warmup_iter"])
        self.model.feed_data({"LQ": lq, "GT": gt})
        self.model.optimize_parameters(iteration)
        return dict(self.model.get_current_log())

    def learning_rates(self):
        """Current rate of G and of D."""
        return [optimizer.param_groups[0]["lr"] for optimizer in self.model.optimizers]


def load_official(git_dir, work_dir=None, nf=16, nb=2, d_nf=16, d_layers=3, batch=2, gt_size=64,
                  model="srgan", train=None):
    """Extract the snapshot and build the official SRGANModel on the CPU.

    Options are the official train_ntire.yml with the network sizes, batch and patch size
    replaced, no pretrained G and no validation set; `train` overrides keys of its `train`
    section (for example lr_G, restarts, restart_weights, clear_state). `model` picks the
    official model class through its create_model (only `srgan` is in the snapshot).
    """
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")  # leave the extracted tree as extracted
    sys.dont_write_bytecode = True
    work_dir = work_dir or tempfile.mkdtemp(prefix="official_rwsr_")
    commit = git_head(git_dir)
    source = os.path.join(work_dir, "src")
    marker = os.path.join(work_dir, "src.commit")
    if not (os.path.exists(marker) and _read(marker) == commit):  # reuse an earlier extraction
        extract_snapshot(git_dir, source)
        with open(marker, "w") as f:
            f.write(commit)
    codes = os.path.join(source, "codes")
    _import_from(codes)
    patches = []
    _offline_torchvision(patches)

    import yaml
    import options.options as official_options
    from models import create_model

    with open(os.path.join(codes, OPTIONS_FILE)) as f:
        raw = yaml.safe_load(f)
    raw.update(name="official_peer", model=model, use_tb_logger=False, gpu_ids=[])
    raw["datasets"] = {"train": dict(raw["datasets"]["train"], batch_size=batch, GT_size=gt_size, n_workers=0)}
    raw["network_G"].update(nf=nf, nb=nb)
    raw["network_D"].update(nf=d_nf, nlayer=d_layers)
    raw["path"]["pretrain_model_G"] = None
    _merge(raw["train"], train or {})
    option_file = os.path.join(work_dir, f"train_official_{model}.yml")
    with open(option_file, "w") as f:
        yaml.safe_dump(raw, f, sort_keys=False)
    patches.append(f"options = {OPTIONS_FILE} with nf={nf} nb={nb} D nf={d_nf} nlayer={d_layers} batch={batch} "
                   f"GT_size={gt_size}, pretrain_model_G: ~, no val set, gpu_ids: [] (parse() joins it into "
                   f"CUDA_VISIBLE_DEVICES), train overrides {sorted(train or {})}")

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    opt = official_options.parse(option_file, is_train=True)
    if visible is None:
        os.environ.pop("CUDA_VISIBLE_DEVICES")
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = visible
    patches.append("CUDA_VISIBLE_DEVICES, which parse() sets from gpu_ids, is restored afterwards")
    opt["dist"] = False  # what train.py sets for --launcher none
    opt = official_options.dict_to_nonedict(opt)
    opt["gpu_ids"] = None
    patches.append("opt['gpu_ids'] = None after parse (BaseModel picks 'cuda' whenever gpu_ids is not None)")
    official = create_model(opt)
    if official.device.type != "cpu":
        raise RuntimeError(f"official model landed on {official.device}")
    return OfficialPeer(official, opt, codes, commit, patches)
