"""Find the ImageNet backbone weights (VGG19, AlexNet) under torchvision's file names.

Lookup order: the folder given by `path.pretrained_backbones`, else torch's hub cache
(`<torch.hub.get_dir()>/checkpoints`, where torchvision puts them when online). A missing file
is downloaded once into that folder when the server can be reached quickly; otherwise a
one-line error names the file and the folder. Nothing here can hang on an offline machine.
"""
import hashlib
import os
import socket
import threading
import urllib.parse
import urllib.request

import torch

from ..utils.errors import RwsrError
from ..utils.fs import atomic_write
from ..utils.logger import get_logger

BACKBONE_FILES = {
    "vgg19": "vgg19-dcbb9e9d.pth",
    "alexnet": "alexnet-owt-7be5be79.pth",
}
DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
CONNECT_TIMEOUT_S = 5.0
_CHUNK = 1 << 20


def backbone_folder(weights_dir=None):
    if weights_dir:
        return os.path.abspath(os.path.expanduser(weights_dir))
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def resolve_backbone_file(name, weights_dir=None, download=True):
    """Path of the torchvision weight file of backbone `name` ("vgg19" or "alexnet")."""
    file_name = BACKBONE_FILES[name]
    folder = backbone_folder(weights_dir)
    path = os.path.join(folder, file_name)
    if os.path.isfile(path):
        return path
    reason = "download disabled"
    if download:
        reason = _try_download(DOWNLOAD_ROOT + file_name, path)
        if reason is None:
            return path
    raise RwsrError(f"pretrained backbone {file_name} not found in {folder} and not downloadable ({reason}); "
                    f"copy torchvision's {file_name} there (path.pretrained_backbones) "
                    "or set train.feature_pretrained: false for random weights")


def _host_resolves(host, timeout):
    """DNS lookup bounded by `timeout` (getaddrinfo itself has no timeout)."""
    result = {}

    def lookup():
        try:
            result["ok"] = bool(socket.getaddrinfo(host, 443))
        except OSError:
            result["ok"] = False

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    return result.get("ok", False)


def _try_download(url, path):
    """Download url to path, checking torchvision's hash prefix; return None or the failure reason."""
    host = urllib.parse.urlparse(url).hostname
    if not _host_resolves(host, CONNECT_TIMEOUT_S):
        return f"cannot reach {host}"
    get_logger().info("downloading %s to %s", url, path)
    expected_prefix = os.path.splitext(os.path.basename(path))[0].rsplit("-", 1)[-1]

    def write(tmp_path):
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S * 6) as response, open(tmp_path, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if not digest.hexdigest().startswith(expected_prefix):
            raise ValueError(f"checksum of the download does not start with {expected_prefix}")

    try:
        atomic_write(path, write)
    except (OSError, ValueError) as err:
        return f"download failed: {err}"
    return None
