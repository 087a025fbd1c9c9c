"""`explain`: why the model predicted what it did at one frame.

Temporal importance: the gradient of the frame's valence (and arousal) output with respect to the
feature vector of every frame in its window; its norm says how much each frame mattered. When the
backbone is a differentiable CNN in this process (the `tiny` encoder, or a `python` backbone with
`backbone.gradcam_layer`), Grad-CAM maps on the most important crops show where in the face: the crops
are re-encoded with gradients, spliced into the window, and the same output is back-propagated to the
chosen convolutional layer. Writes a PNG strip and a CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from abaw.atomic import atomic_path
from abaw.errors import AbawError
from abaw.plots import new_figure, save_figure
from abaw.positions import split_positions
from src_visual_dynamic_model.backbones import FrameEncoder, letterbox, load_backbone, to_input
from src_visual_dynamic_model.config import SPLITS, VisualConfig
from src_visual_dynamic_model.data import SplitData, load_split
from src_visual_dynamic_model.extract import CropLayout
from src_visual_dynamic_model.model import TemporalTransformer

CHANNELS = ("valence", "arousal")


def window_around(n: int, row: int, window: int) -> slice:
    """The window of at most `window` frames that holds `row` as close to its centre as the video allows."""
    start = int(np.clip(row - window // 2, 0, max(n - window, 0)))
    return slice(start, min(start + window, n))


def temporal_importance(model: TemporalTransformer, features: np.ndarray, target: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Outputs [L,2] over the window and importance [L,2]: |d output[target, c] / d features[t]|."""
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))[None].requires_grad_(True)
    pred, _ = model(x)
    importance = np.zeros((x.shape[1], 2), np.float32)
    for c in range(2):
        (grad,) = torch.autograd.grad(pred[0, target, c], x, retain_graph=c == 0)
        importance[:, c] = grad[0].norm(dim=-1).numpy()
    return pred[0].detach().numpy(), importance


def grad_cam(model: TemporalTransformer, encoder: FrameEncoder, window_features: np.ndarray, at: np.ndarray,
             crops: np.ndarray, target: int, cfg: VisualConfig) -> np.ndarray:
    """Heat maps [2, K, S, S] in [0,1] of the crops at window rows `at`, for each output channel."""
    assert encoder.gradcam_layer is not None
    captured: list[torch.Tensor] = []
    hook = encoder.gradcam_layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        pixels = to_input(torch.from_numpy(crops), cfg.backbone.preprocess).requires_grad_(True)
        encoded = encoder.encode(pixels)
    finally:
        hook.remove()
    activation = captured[0]
    x = torch.from_numpy(np.ascontiguousarray(window_features, dtype=np.float32)).clone()
    x[torch.from_numpy(at)] = encoded
    pred, _ = model(x[None])
    size = crops.shape[1]
    maps = np.zeros((2, len(at), size, size), np.float32)
    for c in range(2):
        (grad,) = torch.autograd.grad(pred[0, target, c], activation, retain_graph=c == 0)
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * activation).sum(dim=1)).detach().numpy()
        for k in range(len(at)):
            maps[c, k] = cv2.resize(cam[k], (size, size), interpolation=cv2.INTER_LINEAR)
        # One scale per channel across the crops, so a frame that mattered more also looks hotter.
        peak = maps[c].max()
        if peak > 0:
            maps[c] /= peak
    return maps


def read_crops(layout: CropLayout, video: str, frames: np.ndarray, size: int) -> np.ndarray:
    images = []
    for frame in frames:
        image = cv2.imread(layout.path(video, int(frame)), cv2.IMREAD_COLOR)
        if image is None:
            raise AbawError(f"{layout.path(video, int(frame))}: crop not readable")
        images.append(letterbox(image, size))
    return np.stack(images)


def overlay(crop_bgr: np.ndarray, heat: np.ndarray | None) -> np.ndarray:
    rgb = crop_bgr[..., ::-1].astype(np.float32) / 255.0
    if heat is None:
        return rgb
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1] / 255.0
    return 0.55 * rgb + 0.45 * colour


def draw(path: Path, title: str, frames: np.ndarray, importance: np.ndarray, outputs: np.ndarray,
         labels: np.ndarray, frame: int, shown: np.ndarray, crops: np.ndarray | None,
         maps: np.ndarray | None) -> None:
    rows = 1 + (0 if crops is None else (2 if maps is not None else 1))
    cols = max(len(shown), 1)
    fig = new_figure(max(10, 1.6 * cols), 3 + 1.8 * (rows - 1))
    grid = fig.add_gridspec(rows, cols, height_ratios=[2.2] + [1] * (rows - 1))
    ax = fig.add_subplot(grid[0, :])
    for c, colour in zip(range(2), ("tab:blue", "tab:red"), strict=True):
        scale = importance[:, c].max() or 1.0
        ax.plot(frames, importance[:, c] / scale, color=colour, label=f"importance {CHANNELS[c]}")
        ax.plot(frames, outputs[:, c], color=colour, ls=":", lw=0.8, label=f"output {CHANNELS[c]}")
        ax.plot(frames, labels[:, c], color=colour, ls="--", lw=0.8, alpha=0.6, label=f"label {CHANNELS[c]}")
    ax.axvline(frame, color="black", lw=1)
    ax.set(title=title, xlabel="frame", ylim=(-1.05, 1.05))
    ax.legend(loc="lower left", fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    if crops is not None:
        for k, f in enumerate(shown):
            for r in range(rows - 1):
                sub = fig.add_subplot(grid[1 + r, k])
                sub.imshow(overlay(crops[k], None if maps is None else maps[r, k]))
                sub.set_axis_off()
                sub.set_title(f"{f}" + ("" if maps is None else f" {CHANNELS[r][0].upper()}"), fontsize=8)
    save_figure(fig, path, dpi=90)


def check_split_has(cfg: VisualConfig, split: str, video: str) -> None:
    """A video of another split (a common slip: explain searches val by default) says where it is."""
    positions = split_positions(cfg.data, split)
    if video in set(map(str, positions.videos)):
        return
    found = []
    for other in (s for s in SPLITS if s != split):
        try:
            if video in set(map(str, split_positions(cfg.data, other).videos)):
                found.append(other)
        except AbawError:  # that split's annotations or template are missing: nothing to suggest
            continue
    hint = (f"it is in the {found[0]} split: pass --split {found[0]}" if found
            else "no split has it; check the video id")
    raise AbawError(f"video {video!r} is not in the {split} split (searched {positions.source}); {hint}")


def explain(cfg: VisualConfig, model: TemporalTransformer, split: str, video: str, frame: int, out: Path,
            top: int = 8) -> dict[str, Any]:
    if top < 0:
        raise AbawError(f"--top {top}: the number of crops to show must be 0 or more")
    check_split_has(cfg, split, video)
    data: SplitData = load_split(cfg, split, expect_dim=model.arch.input_dim, video=video)
    hits = np.flatnonzero(data.frames == frame)
    if not hits.size:
        raise AbawError(f"video {video!r} of {split} has frames "
                        f"{int(data.frames[0])}..{int(data.frames[-1])}; "
                        f"frame {frame} is not one of them")
    row = int(hits[0])
    # The output at row t estimates the label of row t + delay, so frame `row` is explained at row - delay.
    source = int(np.clip(row - cfg.train.time_delay, 0, data.n_frames - 1))
    span = window_around(data.n_frames, source, cfg.train.window)
    target = source - span.start
    model.eval()
    outputs, importance = temporal_importance(model, data.features[span], target)
    frames = data.frames[span]
    face = data.face[span]
    score = importance.sum(axis=1) * face
    ranked = np.argsort(-score)[:top]
    chosen = ranked[score[ranked] > 0]
    if face[target]:
        chosen = np.union1d(chosen, [target])
    chosen = np.sort(chosen).astype(np.int64)
    crops = maps = None
    layout = CropLayout(cfg.data.cropped_aligned, cfg.extract.crop_pattern)
    if chosen.size and all(Path(layout.path(video, int(f))).is_file() for f in frames[chosen]):
        crops = read_crops(layout, video, frames[chosen], cfg.backbone.preprocess.size)
        encoder = load_backbone(cfg.backbone, torch.device("cpu"))
        if encoder.gradcam_layer is not None:
            maps = grad_cam(model, encoder, data.features[span], chosen, crops, target, cfg)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"frame": frames, "face": face,
                          "importance_valence": importance[:, 0], "importance_arousal": importance[:, 1],
                          "output_valence": outputs[:, 0], "output_arousal": outputs[:, 1],
                          "label_valence": data.labels[span, 0], "label_arousal": data.labels[span, 1],
                          "shown": np.isin(np.arange(len(frames)), chosen)})
    csv_path, png_path = out / f"{video}_{frame:05d}.csv", out / f"{video}_{frame:05d}.png"
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    title = (f"{video} frame {frame}: output valence {outputs[target, 0]:+.3f}, "
             f"arousal {outputs[target, 1]:+.3f}"
             f" (window frames {int(frames[0])}-{int(frames[-1])})")
    draw(png_path, title, frames, importance, outputs, data.labels[span], int(frames[target]),
         frames[chosen], crops, maps)
    return {"csv": str(csv_path), "png": str(png_path), "gradcam": maps is not None,
            "window": [int(frames[0]), int(frames[-1])], "shown_frames": frames[chosen].tolist()}
