"""Warm-up of the demo describer: a random tiny Qwen3-VL learns to see affect before it describes.

A random-weight model's hidden states carry no valence/arousal signal, so the demo's describer is
first trained, on clips of a separate synthetic dataset, to predict each clip's valence/arousal from
its pooled last hidden states: a linear head on the mean over all prompt positions (`mm`) and one on
the mean over the video tokens (`visual`), MSE on standardised labels. The heads are then discarded
and the model is saved with `save_pretrained`, to be loaded like any checkpoint. This stands in for
what a pretrained vision-language model already knows; it is not part of the published method.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from abaw.errors import AbawError
from src_behavior_description.describer import Clip, Describer, DescriberConfig, pool
from src_behavior_description.tiny_models import atomic_folder

COPIED = ("video_preprocessor_config.json", "preprocessor_config.json", "chat_template.json")


def _standardise(labels: np.ndarray) -> np.ndarray:
    mean = np.nanmean(labels, axis=0)
    std = np.nanstd(labels, axis=0)
    return (labels - mean) / np.where(std > 0, std, 1.0)


def centre_per_video(labels: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """Labels minus their video's mean (NaN-aware): what is left varies within a video only, so a model
    fitted to it cannot score by recognising the person or the video."""
    out = labels.astype(np.float32).copy()
    for video in np.unique(videos):
        rows = videos == video
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel unknown in the whole video stays NaN
            out[rows] -= np.nanmean(out[rows], axis=0)
    return out


def _flip(clip: Clip) -> Clip:
    return Clip(frames=np.ascontiguousarray(clip.frames[:, :, ::-1]), times=clip.times)


def _shift(clip: Clip, pixels: int, rng: np.random.Generator) -> Clip:
    """The clip moved by up to `pixels` in each direction, edges repeated: the same scene, framed
    differently."""
    dy, dx = rng.integers(0, 2 * pixels + 1, 2)
    padded = np.pad(clip.frames, ((0, 0), (pixels, pixels), (pixels, pixels), (0, 0)), mode="edge")
    h, w = clip.frames.shape[1:3]
    return Clip(frames=np.ascontiguousarray(padded[:, dy:dy + h, dx:dx + w]), times=clip.times)


def video_batches(index: np.ndarray, video: np.ndarray, per_video: int, batch_size: int,
                  rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of the clips `index` built from runs of `per_video` or more clips of one video (`video`:
    a code per clip); a video with a single clip is left out. `rng` shuffles; None keeps the order."""
    runs: list[np.ndarray] = []
    for code in np.unique(video[index]):
        clips = index[video[index] == code]
        if len(clips) < 2:
            continue
        if rng is not None:
            clips = clips[rng.permutation(len(clips))]
        runs += np.array_split(clips, max(1, len(clips) // per_video))
    if rng is not None:
        runs = [runs[i] for i in rng.permutation(len(runs))]
    batches, current = [], []
    for run in runs:
        current.append(run)
        if sum(len(r) for r in current) >= batch_size:
            batches.append(np.concatenate(current))
            current = []
    if current:
        batches.append(np.concatenate(current))
    return batches


def centre_groups(x: torch.Tensor, group: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """`x` [B, C] minus the mean of its group (`group` [B], codes 0..G-1) over the `known` entries."""
    weight = known.to(x.dtype)
    size = int(group.max()) + 1
    sums = x.new_zeros(size, x.shape[1]).index_add(0, group, x.nan_to_num() * weight)
    counts = x.new_zeros(size, x.shape[1]).index_add(0, group, weight)
    return x - (sums / counts.clamp_min(1.0))[group]


def linear_patch_embed(model) -> None:
    """Run the vision tower's patch embedding as the matrix product it is (kernel = stride, so each
    patch meets the kernel once): the same weights and values, but its backward on CPU is far cheaper
    than a 3D convolution's. Set on this model instance only; nothing of it is saved."""
    embed = model.model.visual.patch_embed
    proj = embed.proj

    def forward(hidden_states: torch.Tensor) -> torch.Tensor:
        flat = hidden_states.reshape(-1, proj.weight[0].numel()).to(proj.weight.dtype)
        return torch.nn.functional.linear(flat, proj.weight.reshape(len(proj.weight), -1), proj.bias)

    embed.forward = forward


def last_hidden(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Last hidden layer [B,L,D] over the prompts of a batch built by `Describer.batch_inputs`."""
    return model.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                       position_ids=inputs["position_ids"], pixel_values_videos=inputs["pixel_values_videos"],
                       video_grid_thw=inputs["video_grid_thw"], mm_token_type_ids=inputs["mm_token_type_ids"],
                       use_cache=False).last_hidden_state


def warmup(cfg: DescriberConfig, clips: Iterable[tuple[Clip, np.ndarray]], out: Path, *, epochs: int,
           lr: float, seed: int, batch_size: int = 8, weight_decay: float = 0.01,
           videos: Sequence[str] | None = None, vision_only: bool = False, flip: bool = False,
           shift: int = 0, held_out: Sequence[bool] | None = None, per_video: int = 0,
           progress: bool = True) -> dict:
    """Train the describer's model to predict clip valence/arousal (labels [2], NaN = unknown) from its
    pooled last hidden states; save the model (heads discarded) to `out`; return loss and time figures.

    `videos` (one name per clip): targets are centred per video. `vision_only`: the language model
    stays random and only the vision tower learns. `flip`: each clip is mirrored left-right with
    probability 1/2 in every epoch; `shift`: moved by up to that many pixels. `held_out` (one flag per
    clip): those clips are not trained on; the model is saved as it was after the epoch with the
    lowest loss on them. `per_video` > 0 (needs `videos`): each batch holds runs of at least that many
    clips of one video, and the loss compares predictions and targets after each run's mean is taken
    away: the model learns what changes within a video and never has to guess a video's mean."""
    start_time = time.perf_counter()
    pairs = [(c, np.asarray(y, np.float32)) for c, y in clips]
    for name, given in (("video names", videos), ("held-out flags", held_out)):
        if given is not None and len(given) != len(pairs):
            raise AbawError(f"warm-up: {len(given)} {name} for {len(pairs)} clips")
    labels = np.stack([y for _, y in pairs]) if pairs else np.zeros((0, 2), np.float32)
    if per_video and videos is None:
        raise AbawError("warm-up: per_video needs the video name of every clip")
    if videos is not None:
        labels = centre_per_video(labels, np.asarray(videos))
    video_code = np.unique(np.asarray(videos), return_inverse=True)[1] if videos is not None else None
    keep = np.isfinite(labels).any(axis=1)
    held = np.zeros(len(pairs), bool) if held_out is None else np.asarray(held_out, bool)
    if not keep[~held].any():
        raise AbawError("warm-up: no clip has a label; the warm-up dataset needs annotated clips")
    if epochs < 1 or lr <= 0 or batch_size < 1 or shift < 0:
        raise AbawError(f"warm-up: epochs ({epochs}), lr ({lr}) and batch size ({batch_size}) must be "
                        f"positive and shift ({shift}) at least 0")
    targets_np = _standardise(labels)
    train = np.flatnonzero(keep & ~held)
    check = np.flatnonzero(keep & held)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Loaded in float32 on any device: bfloat16 ("auto" on a GPU) would round the weights it starts from
    # and those it leaves untrained.
    describer = Describer.load(dataclasses.replace(cfg, dtype="float32"))
    model = describer.model.train()
    linear_patch_embed(model)
    width = describer.width
    heads = torch.nn.ModuleDict({"mm": torch.nn.Linear(width, 2), "visual": torch.nn.Linear(width, 2)})
    heads.to(describer.device)
    if vision_only:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("model.visual."))
    params = [p for p in model.parameters() if p.requires_grad] + list(heads.parameters())
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if per_video:
        plans = [video_batches(train, video_code, per_video, batch_size, rng) for _ in range(epochs)]
        checks = video_batches(check, video_code, per_video, batch_size, None)
    else:
        orders = [train[rng.permutation(len(train))] for _ in range(epochs)]
        plans = [[order[i:i + batch_size] for i in range(0, len(order), batch_size)] for order in orders]
        checks = [check[i:i + batch_size] for i in range(0, len(check), batch_size)]
    steps = sum(len(plan) for plan in plans)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    targets = torch.from_numpy(targets_np.astype(np.float32)).to(describer.device)

    def batch_loss(index: np.ndarray, augment: bool) -> torch.Tensor:
        batch = [pairs[j][0] for j in index]
        if augment and flip:
            batch = [_flip(c) if rng.random() < 0.5 else c for c in batch]
        if augment and shift:
            batch = [_shift(c, shift, rng) for c in batch]
        inputs = describer.batch_inputs(batch)
        hidden = last_hidden(model, inputs)
        y = targets[torch.from_numpy(index).to(describer.device)]
        known = torch.isfinite(y)
        if per_video:
            group = torch.from_numpy(np.unique(video_code[index], return_inverse=True)[1]).to(y.device)
            y = centre_groups(y, group, known)
        loss = hidden.new_zeros(())
        for name, mask in (("mm", inputs["attention_mask"].bool()), ("visual", inputs["visual_mask"])):
            guess = heads[name](pool(hidden, mask)["mean"])
            if per_video:
                guess = centre_groups(guess, group, known)
            loss = loss + (guess - y.nan_to_num()).square()[known].mean()
        return loss

    losses: list[float] = []
    checked: list[float] = []
    best: dict[str, torch.Tensor] | None = None
    bar = tqdm(total=steps, desc="warm-up", unit="batch", disable=not progress)
    for plan in plans:
        total, count = 0.0, 0
        model.train()
        for index in plan:
            loss = batch_loss(index, augment=True)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(index)
            count += len(index)
            bar.update(1)
            bar.set_postfix(loss=f"{total / count:.3f}")
        losses.append(total / count)
        if checks:
            model.eval()
            with torch.no_grad():
                held_loss = sum(batch_loss(p, augment=False).item() * len(p) for p in checks) / \
                    sum(len(p) for p in checks)
            if not checked or held_loss < min(checked):
                best = {k: v.detach().clone() for k, v in model.state_dict().items()}
            checked.append(held_loss)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", held_out=f"{held_loss:.3f}")
    bar.close()
    if best is not None:
        model.load_state_dict(best)
    source = Path(describer.identity["path"])

    def write(folder: Path) -> None:
        model.eval().save_pretrained(folder)
        describer.tokenizer.save_pretrained(folder)
        for name in COPIED:
            if (source / name).is_file():
                shutil.copy(source / name, folder / name)

    atomic_folder(Path(out), write)
    return {"clips": len(train), "held_out": len(check), "epochs": epochs, "loss": losses,
            "held_out_loss": checked, "best_epoch": int(np.argmin(checked)) + 1 if checked else epochs,
            "seconds": time.perf_counter() - start_time}
