"""Frame encoders behind one interface: a batch of face crops -> one feature vector per crop.

Kinds: `tiny` (built-in, for the demo and tests), `python` (a user's `module:function` returning a
torch module, e.g. a local GRADA checkout), `torchscript` (a scripted encoder file) and `hf` (a Hugging
Face image backbone from a local folder, pooled output). Preprocessing is shared: aspect-preserving
resize to S with black padding (done in the decoding workers), then scaling and normalisation.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from abaw.errors import AbawError
from src_visual_dynamic_model.config import BackboneConfig, PreprocessConfig


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 [H,W,3] so its longer side is `size`, centred on a black `size` x `size` canvas."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if (nh, nw) == (size, size):
        return image
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top:top + nh, left:left + nw] = image
    return canvas


def to_input(batch: torch.Tensor, pre: PreprocessConfig) -> torch.Tensor:
    """uint8 [B,S,S,3] BGR crops -> float [B,3,S,S] in the encoder's colour order and normalisation."""
    x = batch.permute(0, 3, 1, 2).float().div_(255.0)
    if pre.rgb:
        x = x.flip(1)
    mean = torch.tensor(pre.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


@dataclasses.dataclass
class FrameEncoder:
    """A loaded encoder: `encode` maps normalised crops [B,3,S,S] to features [B,dim].

    `module` is set when the encoder is an in-process torch module (differentiable), and
    `gradcam_layer` when a convolutional layer for Grad-CAM is known.
    """

    identity: str
    dim: int
    encode_fn: object
    module: nn.Module | None = None
    gradcam_layer: nn.Module | None = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_fn(x).float()


class OrientedGradients(nn.Module):
    """Grey-level gradient magnitude split into `bins` signed orientation channels [B,bins,H,W]."""

    def __init__(self, bins: int) -> None:
        super().__init__()
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("kernels", torch.stack([sobel, sobel.T])[:, None])
        self.register_buffer("centres", torch.arange(bins, dtype=torch.float32) * (2 * math.pi / bins))

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        gx, gy = nn.functional.conv2d(grey, self.kernels, padding=1).unbind(dim=1)
        magnitude = torch.sqrt(gx * gx + gy * gy + 1e-8)[:, None]
        angle = torch.atan2(gy, gx)[:, None]
        # Soft binning: each pixel votes for the orientations within about +-40 degrees of its own.
        vote = torch.relu(torch.cos(angle - self.centres.view(1, -1, 1, 1)))
        vote = vote * vote
        return magnitude * (vote * vote)


class TinyEncoder(nn.Module):
    """A fixed, training-free encoder: HOG-like oriented-gradient histograms on a grid of face cells.

    Crops are turned grey and resized to 64 x 64, gradients are binned into 9 signed orientations,
    averaged over 8 x 8 cells and normalised by the local gradient energy, then square-rooted. Such
    features follow the shape of mouth, brows and eyes while ignoring colour and lighting, which vary
    with identity. `dim` > 0 adds a seeded random projection to that size; 0 keeps all 576 values.
    """

    SIDE, CELLS, BINS = 64, 8, 9

    def __init__(self, dim: int, seed: int) -> None:
        super().__init__()
        self.orientations = OrientedGradients(self.BINS)
        raw = self.CELLS * self.CELLS * self.BINS
        gen = torch.Generator().manual_seed(seed)
        projection = torch.randn(raw, dim, generator=gen) / raw ** 0.5 if dim else torch.zeros(0)
        self.register_buffer("projection", projection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(dim=1, keepdim=True)
        if grey.shape[-2:] != (self.SIDE, self.SIDE):
            grey = nn.functional.interpolate(grey, size=(self.SIDE, self.SIDE), mode="bilinear",
                                             align_corners=False, antialias=True)
        cells = nn.functional.adaptive_avg_pool2d(self.orientations(grey), self.CELLS)
        energy = nn.functional.avg_pool2d(cells.sum(dim=1, keepdim=True), 3, 1, 1, count_include_pad=False)
        features = torch.sqrt(cells / (energy + 1e-3) + 1e-6).flatten(1)
        return features @ self.projection if self.projection.numel() else features


def pool_output(out: object, identity: str) -> torch.Tensor:
    """Turn an encoder output into [B,D]: a tensor as is, a feature map [B,C,...] averaged over space."""
    if not isinstance(out, torch.Tensor):
        raise AbawError(f"backbone {identity}: the encoder returned {type(out).__name__}, not a tensor; "
                        "set backbone.output to the key or index of the embedding")
    if out.ndim > 2:
        out = out.flatten(2).mean(dim=2)
    if out.ndim != 2:
        raise AbawError(f"backbone {identity}: the encoder returned shape {list(out.shape)}, expected [B, D]")
    return out


def select_output(out: object, key: str, identity: str) -> object:
    """Pick the embedding out of a tuple/list (`key` an index) or a mapping/model output (`key` a name)."""
    if not key:
        return out
    try:
        if isinstance(out, (tuple, list)):
            return out[int(key)]
        if hasattr(out, "__getitem__") and not isinstance(out, torch.Tensor):
            return out[key]
        return getattr(out, key)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise AbawError(f"backbone {identity}: backbone.output = {key!r} does not select anything in the "
                        f"encoder's {type(out).__name__} output") from exc


def find_layer(module: nn.Module, name: str, identity: str) -> nn.Module | None:
    if not name:
        return None
    try:
        return module.get_submodule(name)
    except AttributeError as exc:
        examples = ", ".join(n for n, _ in list(module.named_modules())[1:6])
        raise AbawError(f"backbone {identity}: backbone.gradcam_layer = {name!r} is not a submodule; "
                        f"examples of names: {examples}") from exc


def import_target(target: str, import_path: Path | None):
    """Import `module:function`, with `import_path` put first on sys.path (a local checkout)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise AbawError(f"backbone.target = {target!r}: expected 'module:function', "
                        "e.g. 'grada_emotion.models:load_model'")
    if import_path is not None:
        if not import_path.is_dir():
            raise AbawError(f"backbone.import_path = {import_path}: folder not found")
        if str(import_path) not in sys.path:
            sys.path.insert(0, str(import_path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AbawError(f"backbone.target = {target!r}: cannot import {module_name!r} ({exc}); "
                        "set backbone.import_path to the folder holding it") from exc
    if not hasattr(module, attr):
        raise AbawError(f"backbone.target = {target!r}: module {module_name!r} has no {attr!r}")
    return getattr(module, attr)


def _load_python(cfg: BackboneConfig) -> tuple[str, nn.Module]:
    factory = import_target(cfg.target, cfg.import_path)
    model = factory(**cfg.kwargs)
    if not isinstance(model, nn.Module):
        raise AbawError(f"backbone.target = {cfg.target!r} returned {type(model).__name__}; "
                        "it must return a torch.nn.Module mapping [B,3,S,S] crops to [B,D] features")
    return f"python:{cfg.target}", model


def _load_torchscript(cfg: BackboneConfig) -> tuple[str, nn.Module]:
    if cfg.path is None or not cfg.path.is_file():
        raise AbawError(f"backbone.path = {cfg.path}: a TorchScript file is needed for "
                        "backbone.kind = 'torchscript'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            model = torch.jit.load(str(cfg.path), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise AbawError(f"{cfg.path}: not a TorchScript file ({str(exc).splitlines()[0]})") from exc
    return f"torchscript:{cfg.path.name}", model


class HFPooled(nn.Module):
    """A Hugging Face vision model returning its pooled output (or mean of the last hidden states)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=x)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            hidden = out.last_hidden_state
            pooled = hidden.mean(dim=1) if hidden.ndim == 3 else hidden
        return pooled


def _load_hf(cfg: BackboneConfig) -> tuple[str, nn.Module]:
    if cfg.path is None or not (cfg.path / "config.json").is_file():
        raise AbawError(f"backbone.path = {cfg.path}: a Hugging Face model folder with config.json is needed "
                        "for backbone.kind = 'hf' (download it once, then point here)")
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(str(cfg.path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise AbawError(f"{cfg.path}: cannot load a Hugging Face model ({str(exc).splitlines()[0]})") from exc
    return f"hf:{cfg.path.name}", HFPooled(model)


LOADERS = {"python": _load_python, "torchscript": _load_torchscript, "hf": _load_hf}


def load_backbone(cfg: BackboneConfig, device: torch.device) -> FrameEncoder:
    """Build the configured encoder in eval mode on `device`, its output size found with one dummy batch."""
    if cfg.kind == "tiny":
        if cfg.dim < 0:
            raise AbawError(f"backbone.dim = {cfg.dim}: the tiny encoder needs 0 (native size) "
                            "or a size >= 1")
        identity, module = f"tiny:seed={cfg.seed}:dim={cfg.dim}", TinyEncoder(cfg.dim, cfg.seed)
        layer_name = cfg.gradcam_layer or "orientations"
    else:
        identity, module = LOADERS[cfg.kind](cfg)
        layer_name = cfg.gradcam_layer
    module = module.to(device).eval()
    key = cfg.output

    def encode_fn(x: torch.Tensor) -> torch.Tensor:
        return pool_output(select_output(module(x), key, identity), identity)

    size = cfg.preprocess.size
    with torch.no_grad():
        probe = encode_fn(torch.zeros(1, 3, size, size, device=device))
    layer = None if isinstance(module, torch.jit.ScriptModule) else find_layer(module, layer_name, identity)
    return FrameEncoder(identity=identity, dim=int(probe.shape[1]), encode_fn=encode_fn, module=module,
                        gradcam_layer=layer)


def pick_device(name: str) -> torch.device:
    """`auto` -> the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise AbawError(f"device {name!r} is not a torch device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AbawError(f"device {name!r} asked for but CUDA is not available; use 'auto' or 'cpu'")
    return device
