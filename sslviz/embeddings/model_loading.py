"""A backbone checkpoint made elsewhere -> a torch module that maps images to pooled features (issue 24,
points 3 and 5). The embedding job that uses it is sslviz/embeddings/model_import.py.

    backbone = load_backbone("simclr.ckpt", "simclr.ckpt", arch="auto")   # -> Backbone(module, info)
    feats = backbone.module(images)                                       # N × 512 (ResNet-18), N × 2048 (-50)

What loads (torch.load(weights_only=True): a file that needs pickled code is refused, never run):
  torchvision   a ResNet-18 / ResNet-50 state dict, torchvision's key names (conv1.weight, layer1.0.conv1.weight,
                ...); `fc.*` is dropped (the features are the pooled backbone output)
  lightly       the backbone of lightly's examples, nn.Sequential(*list(resnet.children())[:-1]): keys
                backbone.0.weight (conv1), backbone.1.* (bn1), backbone.4-7.* (layer1-4)
  solo-learn    a Lightning checkpoint {"state_dict": {"backbone.conv1.weight", ...}}, heads (projector.*,
                momentum_*, classifier.*) ignored; its CIFAR stem (3×3 conv1, padding 2, no max-pool) is
                recognised by conv1's kernel
  TorchScript   torch.jit.load; its output is the feature (a 4-D output is average-pooled)
Any of the state dicts may be nested under "state_dict", "model", "model_state_dict", "network" or "net",
and its keys may carry "module." (DataParallel) or "model." prefixes. A ResNet with a 3×3 conv1 is
built with CIFAR's stem (stride 1, no max-pool), which wants 32-px images; torchvision's 7×7 stem wants
photos at 96 px or more (DEFAULT_SIZE).

Tested (tests/test_import_model.py, with torchvision 0.29's resnet18 / resnet50 built in the test, not
downloaded): the three layouts above, nested and prefixed, give exactly the features of the model they
were saved from; a TorchScript round trip; and each refusal below. The key layouts are lightly's and
solo-learn's as their documentation and source describe them (lightly 1.5's examples, solo-learn 1.0's
BaseMethod); no checkpoint written by those packages themselves was loaded here (no network).

Refusals, one line naming the file (ModelFileError): pickled code; not a checkpoint (corrupt, truncated,
another format); no ResNet keys at all; keys that do not fit (how many missing and unexpected, with
examples); another architecture (a ResNet-50 file asked for as ResNet-18, a ResNet-34, a wider network:
the first shape that differs).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .import_readers import ImportFileError

ARCHS = ("auto", "resnet18", "resnet50", "torchscript")
BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet50": (3, 4, 6, 3)}
FEATURE_DIMS = {"resnet18": 512, "resnet50": 2048}
NESTS = ("state_dict", "model", "model_state_dict", "network", "net")
PREFIXES = ("module.", "model.", "_orig_mod.")
BACKBONES = ("backbone.", "encoder.", "")  # where the backbone's keys sit inside a method's state dict
LIGHTLY = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
DEFAULT_SIZE = {"cifar": 32, "imagenet": 96, "imagenet-large": 224}


class ModelFileError(ImportFileError):
    """A model file cannot be imported as it is; nothing was changed."""


@dataclass
class Backbone:
    module: object  # torch.nn.Module: images (N×3×H×W, normalised) -> features (N×D)
    info: dict = field(default_factory=dict)  # arch, layout, stem, dims, ignored heads


def load_backbone(path: str | Path, name: str | None = None, arch: str = "auto") -> Backbone:
    """Read a checkpoint (see the module docstring); ModelFileError with one line naming the file."""
    path = Path(path)
    name = name or path.name
    if arch not in ARCHS:
        raise ModelFileError(f"{name}: architecture '{arch}' is not one of {', '.join(ARCHS)}")
    if not path.is_file():
        raise ModelFileError(f"{name}: no such file")
    if arch == "torchscript" or (arch == "auto" and _is_torchscript(path)):
        return _torchscript(path, name)
    state = _read_state(path, name)
    layout, tensors, ignored = _backbone_keys(state, name)
    found = _arch_of(tensors, name)
    arch = found if arch == "auto" else arch
    if found != arch:
        raise ModelFileError(f"{name}: a {_pretty(found)} checkpoint ({_why(found)}), loaded as {_pretty(arch)}: "
                             f"another architecture (choose {found}, or auto)")
    module, stem = _resnet(arch, tensors, layout)
    _fit(module, tensors, arch, name)
    module.eval()
    return Backbone(module, {"arch": arch, "layout": layout, "stem": stem, "dims": FEATURE_DIMS[arch],
                             "tensors": len(tensors), "ignored": ignored})


def default_size(info: dict, native: int | None) -> int:
    """The image size a backbone wants: CIFAR's stem 32 px; torchvision's 224 px for large photos, else 96."""
    if info.get("stem") == "cifar":
        return DEFAULT_SIZE["cifar"]
    return DEFAULT_SIZE["imagenet-large"] if native and native >= 160 else DEFAULT_SIZE["imagenet"]


# ---- reading ------------------------------------------------------------------------------------


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _torchscript(path: Path, name: str) -> Backbone:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError / ValueError / others for a bad archive
        raise ModelFileError(f"{name}: not a TorchScript file ({_first_line(exc)})") from None
    module.eval()
    return Backbone(_Pooled(module), {"arch": "torchscript", "layout": "torchscript", "stem": "imagenet",
                                      "dims": None, "tensors": None, "ignored": 0})


def _read_state(path: Path, name: str) -> dict:
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):  # a broken pickle, not a forbidden one
            raise ModelFileError(f"{name}: not a PyTorch checkpoint (corrupt, truncated or another format: "
                                 "its data cannot be unpickled)") from None
        what = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        raise ModelFileError(f"{name}: holds pickled Python objects{f' ({what.group(1)})' if what else ''}, which "
                             "are not loaded (weights_only): save the weights, torch.save(model.state_dict(), "
                             "PATH), or a TorchScript file") from None
    except Exception as exc:
        raise ModelFileError(f"{name}: not a PyTorch checkpoint (corrupt, truncated or another format: "
                             f"{_first_line(exc)[:120]})") from None
    for _ in range(3):  # {"state_dict": {...}}, {"model": {"state_dict": ...}}
        if isinstance(obj, dict) and not _tensor_dict(obj):
            inner = next((obj[k] for k in NESTS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict) or not _tensor_dict(obj):
        kind = type(obj).__name__ if not isinstance(obj, dict) else f"a dict of {', '.join(map(str, list(obj)[:4]))}"
        raise ModelFileError(f"{name}: holds {kind}, not a state dict of tensors (nor one under "
                             f"{', '.join(NESTS)})")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _tensor_dict(obj: dict) -> bool:
    import torch

    return any(isinstance(v, torch.Tensor) for v in obj.values())


# ---- key names ----------------------------------------------------------------------------------


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p):], True
    return key


def _torchvision_name(key: str) -> str | None:
    """torchvision's name for a key of the backbone (None: not a backbone key, e.g. the classifier)."""
    head = key.split(".", 1)[0]
    if head in LIGHTLY:  # lightly: nn.Sequential(*children[:-1])
        return LIGHTLY[head] + key[len(head):]
    if head in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4"):
        return key
    return None


def _backbone_keys(state: dict, name: str) -> tuple[str, dict, int]:
    """(layout, {torchvision key: tensor}, ignored key count) for the best-fitting backbone prefix."""
    stripped = {_strip(k): v for k, v in state.items()}
    best = None
    for prefix in BACKBONES:
        mapped = {}
        for k, v in stripped.items():
            if k.startswith(prefix) and (tv := _torchvision_name(k[len(prefix):])) is not None:
                mapped[tv] = v
        if mapped and (best is None or len(mapped) > len(best[1])):
            lightly = any(k[len(prefix):].split(".", 1)[0] in LIGHTLY for k in stripped if k.startswith(prefix))
            layout = "lightly" if lightly else ("solo-learn" if prefix else "torchvision")
            best = (layout, mapped, len(stripped) - len(mapped))
    if best is None:
        some = ", ".join(list(stripped)[:3])
        raise ModelFileError(f"{name}: no ResNet backbone keys among its {len(stripped):,} tensors (e.g. {some}); "
                             "expected torchvision's names (conv1.weight, layer1.0.conv1.weight, ...), lightly's "
                             "(backbone.0.weight, backbone.4.0.conv1.weight, ...) or solo-learn's "
                             "(backbone.conv1.weight, ...)")
    return best


def _arch_of(tensors: dict, name: str) -> str:
    """resnet18 or resnet50 from the blocks the keys describe; another ResNet is refused."""
    blocks = tuple(len({k.split(".")[1] for k in tensors if k.startswith(f"layer{i}.")}) for i in range(1, 5))
    bottleneck = any(".conv3." in k for k in tensors)
    for arch, want in BLOCKS.items():
        if blocks == want and bottleneck == (arch == "resnet50"):
            return arch
    if not any(blocks):
        return "resnet50" if bottleneck else "resnet18"  # only a stem: _fit names what is missing
    family = {(2, 2, 2, 2): "ResNet-18", (3, 4, 6, 3): "ResNet-50" if bottleneck else "ResNet-34",
              (3, 4, 23, 3): "ResNet-101", (3, 8, 36, 3): "ResNet-152"}.get(blocks, "a ResNet")
    raise ModelFileError(f"{name}: {family} ({'bottleneck' if bottleneck else 'basic'} blocks {list(blocks)}) is "
                         "another architecture; resnet18 and resnet50 load (or a TorchScript file)")


def _pretty(arch: str) -> str:
    return {"resnet18": "ResNet-18", "resnet50": "ResNet-50"}.get(arch, arch)


def _why(arch: str) -> str:
    return f"{'bottleneck' if arch == 'resnet50' else 'basic'} blocks {list(BLOCKS[arch])}, {FEATURE_DIMS[arch]}-d features"


# ---- the network --------------------------------------------------------------------------------


def _resnet(arch: str, tensors: dict, layout: str):
    """torchvision's network with fc = Identity, its stem as conv1's weight shows (CIFAR's: solo-learn pads by 2,
    lightly's examples by 1)."""
    import torch
    import torchvision

    module = getattr(torchvision.models, arch)(weights=None)
    module.fc = torch.nn.Identity()
    conv1 = tensors.get("conv1.weight")
    stem = "imagenet"
    if conv1 is not None and conv1.ndim == 4 and conv1.shape[-1] == 3:  # CIFAR's stem (lightly, solo-learn)
        module.conv1 = torch.nn.Conv2d(conv1.shape[1], conv1.shape[0], 3, 1, 2 if layout == "solo-learn" else 1,
                                       bias=False)
        module.maxpool = torch.nn.Identity()
        stem = "cifar"
    elif conv1 is not None and conv1.ndim == 4 and conv1.shape[1] != 3 and conv1.shape[-1] == 7:
        module.conv1 = torch.nn.Conv2d(conv1.shape[1], 64, 7, 2, 3, bias=False)
    return module, stem


def _fit(module, tensors: dict, arch: str, name: str) -> None:
    own = module.state_dict()
    optional = {k for k in own if k.endswith("num_batches_tracked")}
    missing = [k for k in own if k not in tensors and k not in optional]
    unexpected = [k for k in tensors if k not in own]
    if missing or unexpected:
        parts = [f"{len(missing):,} of {len(own) - len(optional):,} {_pretty(arch)} keys missing "
                 f"(e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(unexpected):,} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else ""]
        raise ModelFileError(f"{name}: the keys do not fit a {_pretty(arch)} backbone: "
                             + "; ".join(p for p in parts if p))
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ModelFileError(f"{name}: {k} is {list(v.shape)} in the file but {list(own[k].shape)} in a "
                                 f"{_pretty(arch)}: another architecture (a wider or modified network)")
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, strict=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _pooled(out):
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out.mean(dim=(2, 3)) if out.ndim == 4 else out.flatten(1)


class _Pooled:
    """A TorchScript module whose output becomes N × D features (a 4-D output is average-pooled)."""

    def __init__(self, module):
        self.inner = module

    def __call__(self, x):
        return _pooled(self.inner(x))

    def eval(self):
        self.inner.eval()
        return self
