"""Qwen3-VL describer: clips in, description text and pooled last-layer vectors out.

One batch of clips costs one vision-tower call, ONE prefill of the text model over the left-padded
prompts, and one single-token step per generated token, continuing the prefill's KV cache (greedy
decoding, stops at the end-of-turn token). The last hidden layer is pooled in fp32 (mean, population
std by two passes, last) over four token sets:

- `mm`: every prompt position (video, timestamps, chat markup, instruction);
- `visual`: exactly the `<|video_pad|>` positions (one per merged 2x2 patch block and frame pair);
- `prompt`: the instruction's text tokens, which see the video through attention;
- `desc`: the generated tokens, the closing end-of-turn token included (one step past the last
  prediction gives the hidden state of the last generated token).

An optional sentence encoder embeds the description text as `sent` (mean pooling, L2 normalised).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from abaw.errors import AbawError
from src_behavior_description import video_inputs as vi

INSTRUCTION = (
    "You are an expert in affective behaviour analysis. Watch the clip and look at the person's face, "
    "posture, gestures, head motion and the scene around them. Describe their valence (how negative or "
    "positive they feel) and arousal (how calm or activated they are), naming the visible cues that show "
    "them and how these change during the clip. Report only what can be seen; do not speculate. Answer in "
    "one paragraph of at most 100 tokens that ends with a period."
)

SETS = ("mm", "visual", "prompt", "desc")
STATS = ("mean", "std", "last")
END_OF_TURN = "<|im_end|>"
VIDEO_TOKEN = "<|video_pad|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"


@dataclass(frozen=True)
class DescriberConfig:
    kind: str = "qwen3vl"
    path: Path = Path("models/qwen3-vl-4b-instruct")
    device: str = "auto"
    dtype: str = "auto"
    attn_implementation: str = "sdpa"
    batch_size: int = 4
    max_new_tokens: int = 100
    instruction: str = INSTRUCTION
    text_encoder_path: Path | None = None
    text_encoder_kind: str = "bert"
    seed: int = 0


@dataclass
class Clip:
    """Sampled frames of one clip. `times` are seconds from the start of the video; the prompt's
    timestamps count from the clip's first frame, as for a clip cut out of its video."""

    frames: np.ndarray
    times: np.ndarray


@dataclass
class Description:
    text: str
    video_tokens: int
    generated_tokens: int
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


def ensure_tiny(cfg: DescriberConfig) -> Path:
    """Build the tiny random-weight Qwen3-VL into `cfg.path` unless a checkpoint is already there."""
    from src_behavior_description.tiny_models import build_tiny_qwen3vl

    path = Path(cfg.path)
    if not (path / "config.json").is_file():
        build_tiny_qwen3vl(path, seed=cfg.seed)
    return path


def ensure_tiny_text_encoder(cfg: DescriberConfig) -> Path:
    """Build the tiny BERT sentence encoder into `cfg.text_encoder_path` unless one is there."""
    from src_behavior_description.tiny_models import build_tiny_bert

    path = Path(cfg.text_encoder_path)
    if not (path / "config.json").is_file():
        build_tiny_bert(path, seed=cfg.seed)
    return path


def folder_digest(path: Path) -> str:
    """Fingerprint of a model folder: configs and tokenizer in full, weights in full below 64 MiB and by
    size plus 16 spread 64 KiB samples above (a changed checkpoint must not reuse cached vectors)."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).iterdir() if p.is_file() and not p.name.startswith(".")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}\n".encode())
        with open(f, "rb") as fh:
            if size <= 64 << 20:
                h.update(fh.read())
                continue
            for k in range(16):
                fh.seek(k * (size - (64 << 10)) // 15)
                h.update(fh.read(64 << 10))
    return h.hexdigest()[:16]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_qwen3vl_folder(path: Path) -> dict:
    if not path.is_dir():
        raise AbawError(f"describer.path: model folder {path} does not exist; download Qwen3-VL-4B-Instruct "
                        "there or set describer.kind = \"tiny\"")
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise AbawError(f"describer.path: {config_file} is missing or unreadable, so {path} is not a "
                        "Qwen3-VL checkpoint; point describer.path at a Qwen3-VL model folder") from exc
    if config.get("model_type") != "qwen3_vl":
        raise AbawError(f"describer.path: {path} is not a Qwen3-VL checkpoint ({config_file} has model_type "
                        f"{config.get('model_type')!r}, expected 'qwen3_vl'); point describer.path at a "
                        "Qwen3-VL model folder")
    return config


def _video_layout(path: Path, config) -> vi.VideoLayout:
    """Patch geometry from the model config; mean/std from the checkpoint's video preprocessor config."""
    vision = config.vision_config
    extra: dict = {}
    for name in ("video_preprocessor_config.json", "preprocessor_config.json"):
        if (path / name).is_file():
            pre = json.loads((path / name).read_text())
            extra = {k: tuple(pre[k]) for k in ("image_mean", "image_std") if k in pre}
            if "rescale_factor" in pre:
                extra["rescale_factor"] = pre["rescale_factor"]
            break
    return vi.VideoLayout(patch=vision.patch_size, temporal=vision.temporal_patch_size,
                          merge=vision.spatial_merge_size, mean=extra.get("image_mean", (0.5, 0.5, 0.5)),
                          std=extra.get("image_std", (0.5, 0.5, 0.5)),
                          rescale=extra.get("rescale_factor", 1 / 255))


def _resolve_device(cfg: DescriberConfig) -> tuple[torch.device, torch.dtype]:
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    names = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if cfg.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif cfg.dtype in names:
        dtype = names[cfg.dtype]
    else:
        raise AbawError(f"describer.dtype = {cfg.dtype!r} is not one of auto, {', '.join(names)}")
    return device, dtype


@dataclass
class _Prompt:
    """Token ids of one clip's prompt with the positions of its token sets."""

    ids: np.ndarray       # int64 [L]
    visual: np.ndarray    # bool [L]
    prompt: np.ndarray    # bool [L]


def pool(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masked mean, population std (two passes) and last-position vectors of fp32 `hidden` [B,L,D]."""
    w = mask.to(hidden.dtype).unsqueeze(-1)
    n = w.sum(dim=1).clamp_min(1.0)
    mean = (hidden * w).sum(dim=1) / n
    std = (((hidden - mean.unsqueeze(1)) * w).square().sum(dim=1) / n).sqrt()
    length = mask.shape[1]
    last_index = length - 1 - mask.flip(1).to(torch.int8).argmax(dim=1)
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_index]
    return {"mean": mean, "std": std, "last": last}


class Describer:
    """A loaded Qwen3-VL (and optional sentence encoder) that describes batches of clips."""

    def __init__(self, cfg: DescriberConfig, model, tokenizer, layout: vi.VideoLayout, identity: dict,
                 text_encoder=None, text_tokenizer=None) -> None:
        self.cfg = cfg
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.identity = identity
        self.text_encoder = text_encoder
        self.text_tokenizer = text_tokenizer
        self.device = next(model.parameters()).device
        self.width = int(model.config.text_config.hidden_size)
        names = [f"{s}_{t}" for s in SETS for t in STATS]
        self.vector_names = tuple(names + (["sent"] if text_encoder is not None else []))
        self.video_token_id = int(model.config.video_token_id)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stop_ids = self._stop_ids()
        self.forward_calls = 0
        self._prompts: dict[tuple, _Prompt] = {}
        model.model.language_model.register_forward_pre_hook(self._count_call)

    def _count_call(self, module, args) -> None:
        self.forward_calls += 1

    def _stop_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        ids.add(self.tokenizer.convert_tokens_to_ids(END_OF_TURN))
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return sorted(ids)

    @classmethod
    def load(cls, cfg: DescriberConfig) -> Describer:
        from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if cfg.kind == "tiny":
            path = ensure_tiny(cfg)
        elif cfg.kind == "qwen3vl":
            path = Path(cfg.path)
        else:
            raise AbawError(f"describer.kind = {cfg.kind!r} is not one of qwen3vl, tiny")
        _check_qwen3vl_folder(path)
        device, dtype = _resolve_device(cfg)
        tokenizer = AutoTokenizer.from_pretrained(path)
        video_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)
        if video_id is None or video_id == tokenizer.unk_token_id or VIDEO_TOKEN not in tokenizer.get_vocab():
            raise AbawError(f"describer.path: the tokenizer in {path} has no {VIDEO_TOKEN} token, so it "
                            "cannot carry video; use the tokenizer of a Qwen3-VL checkpoint")
        if not tokenizer.chat_template and (path / "chat_template.json").is_file():
            tokenizer.chat_template = json.loads((path / "chat_template.json").read_text())["chat_template"]
        if not tokenizer.chat_template:
            raise AbawError(f"describer.path: {path} has no chat template (chat_template.jinja or "
                            "chat_template.json); use a complete Qwen3-VL checkpoint folder")
        model = Qwen3VLForConditionalGeneration.from_pretrained(
            path, dtype=dtype, attn_implementation=cfg.attn_implementation).to(device).eval()
        if model.config.video_token_id != video_id:
            raise AbawError(f"describer.path: {path}: config.json video_token_id "
                            f"{model.config.video_token_id} differs from the tokenizer's {VIDEO_TOKEN} "
                            f"id {video_id}")
        text_encoder = text_tokenizer = None
        text_digest = None
        if cfg.text_encoder_path is not None:
            text_encoder, text_tokenizer, text_digest = _load_text_encoder(cfg, device)
        identity = {"kind": cfg.kind, "path": str(path), "model": folder_digest(path),
                    "instruction": _sha(cfg.instruction), "max_new_tokens": cfg.max_new_tokens,
                    "dtype": str(dtype).removeprefix("torch."), "text_encoder": text_digest}
        layout = _video_layout(path, model.config)
        return cls(cfg, model, tokenizer, layout, identity, text_encoder, text_tokenizer)

    # ---------------------------------------------------------------- prompts

    def _prompt(self, clip: Clip) -> _Prompt:
        """Token ids and token-set masks of a clip's prompt (cached: clips of one shape share them)."""
        stamps = vi.pair_timestamps(np.asarray(clip.times) - clip.times[0], self.layout.temporal)
        per_group = vi.tokens_per_group(clip.frames.shape, self.layout)
        key = (per_group, tuple(f"{t:.1f}" for t in stamps))
        if key not in self._prompts:
            self._prompts[key] = self._build_prompt(stamps, per_group)
        return self._prompts[key]

    def _build_prompt(self, stamps: np.ndarray, per_group: int) -> _Prompt:
        content = [{"type": "video"}, {"type": "text", "text": self.cfg.instruction}]
        messages = [{"role": "user", "content": content}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        placeholder = vi.video_placeholder(stamps, per_group, video_token=VIDEO_TOKEN, start=VISION_START,
                                           end=VISION_END)
        # The chat template wraps the video in start/end markers; each frame pair carries its own.
        wrapped = VISION_START + VIDEO_TOKEN + VISION_END
        marker = wrapped if wrapped in text else VIDEO_TOKEN
        text = text.replace(marker, placeholder, 1)
        begin = text.rfind(self.cfg.instruction)
        end = begin + len(self.cfg.instruction)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        prompt = (offsets[:, 0] >= begin) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        return _Prompt(ids=ids, visual=ids == self.video_token_id, prompt=prompt)

    # ---------------------------------------------------------------- describing

    def describe(self, clips: Sequence[Clip]) -> list[Description]:
        """Describe `clips` in batches of `cfg.batch_size`, results in input order."""
        out: list[Description] = []
        for i in range(0, len(clips), self.cfg.batch_size):
            out.extend(self._describe_batch(clips[i:i + self.cfg.batch_size]))
        return out

    def batch_inputs(self, clips: Sequence[Clip]) -> dict[str, torch.Tensor]:
        """Model inputs of a batch: left-padded ids and masks, pixels, grids, 4-row positions, set masks."""
        prompts = [self._prompt(c) for c in clips]
        length = max(len(p.ids) for p in prompts)
        b = len(clips)
        ids = np.full((b, length), self.pad_id, dtype=np.int64)
        attn = np.zeros((b, length), dtype=np.int64)
        visual = np.zeros((b, length), dtype=bool)
        prompt = np.zeros((b, length), dtype=bool)
        for r, p in enumerate(prompts):
            n = len(p.ids)
            ids[r, length - n:] = p.ids
            attn[r, length - n:] = 1
            visual[r, length - n:] = p.visual
            prompt[r, length - n:] = p.prompt
        pixels = np.concatenate([vi.pixel_values(c.frames, self.layout) for c in clips])
        grids = np.asarray([vi.grid_thw(c.frames.shape, self.layout) for c in clips], dtype=np.int64)
        dev = self.device
        t = {"input_ids": torch.from_numpy(ids).to(dev), "attention_mask": torch.from_numpy(attn).to(dev),
             "pixel_values_videos": torch.from_numpy(pixels).to(dev, self.model.dtype),
             "video_grid_thw": torch.from_numpy(grids).to(dev),
             "mm_token_type_ids": torch.from_numpy(vi.mm_token_type_ids(ids, self.video_token_id)).to(dev)}
        rope, _ = self.model.model.get_rope_index(t["input_ids"], t["mm_token_type_ids"],
                                                  video_grid_thw=t["video_grid_thw"],
                                                  attention_mask=t["attention_mask"])
        text_pos = (t["attention_mask"].cumsum(-1) - 1).masked_fill(t["attention_mask"] == 0, 0)
        t["position_ids"] = torch.cat([text_pos.unsqueeze(0), rope], dim=0)
        t["visual_mask"] = torch.from_numpy(visual).to(dev)
        t["prompt_mask"] = torch.from_numpy(prompt).to(dev)
        return t

    @torch.inference_mode()
    def _describe_batch(self, clips: Sequence[Clip]) -> list[Description]:
        t = self.batch_inputs(clips)
        core, head = self.model.model, self.model.lm_head
        out = core(input_ids=t["input_ids"], attention_mask=t["attention_mask"],
                   position_ids=t["position_ids"], pixel_values_videos=t["pixel_values_videos"],
                   video_grid_thw=t["video_grid_thw"],
                   mm_token_type_ids=t["mm_token_type_ids"], use_cache=True)
        hidden = out.last_hidden_state
        cache = out.cache
        attn = t["attention_mask"]
        pooled = {"mm": pool(hidden.float(), attn.bool()), "visual": pool(hidden.float(), t["visual_mask"]),
                  "prompt": pool(hidden.float(), t["prompt_mask"])}
        logits = head(hidden[:, -1])
        del hidden, out

        b = len(clips)
        stop = torch.tensor(self.stop_ids, device=self.device)
        position = t["position_ids"][:, :, -1:]
        finished = torch.zeros(b, dtype=torch.bool, device=self.device)
        lengths = torch.zeros(b, dtype=torch.long, device=self.device)
        tokens, states = [], []
        next_token = logits.argmax(dim=-1)
        for step in range(self.cfg.max_new_tokens):
            token = next_token.masked_fill(finished, self.pad_id)
            tokens.append(token)
            lengths += (~finished).long()
            stopping = ~finished & torch.isin(token, stop)
            # Feeding the token gives its own hidden state and the logits of the next one.
            attn = torch.cat([attn, attn.new_ones(b, 1)], dim=1)
            position = position + 1
            step_out = core(input_ids=token[:, None], attention_mask=attn, position_ids=position, cache=cache,
                            use_cache=True)
            cache = step_out.cache
            state = step_out.last_hidden_state[:, -1]
            states.append(state.float())
            finished |= stopping
            if bool(finished.all()) or step == self.cfg.max_new_tokens - 1:
                break
            next_token = head(state).argmax(dim=-1)
        desc_mask = torch.arange(len(states), device=self.device)[None, :] < lengths[:, None]
        pooled["desc"] = pool(torch.stack(states, dim=1), desc_mask)

        generated = torch.stack(tokens, dim=1).cpu().numpy()
        lengths_np = lengths.cpu().numpy()
        texts = [self.tokenizer.decode(generated[r, :lengths_np[r]], skip_special_tokens=True).strip()
                 for r in range(b)]
        vectors = {f"{s}_{k}": pooled[s][k].cpu().numpy().astype(np.float32) for s in SETS for k in STATS}
        if self.text_encoder is not None:
            vectors["sent"] = self.embed_texts(texts)
        n_video = t["visual_mask"].sum(dim=1).cpu().numpy()
        return [Description(text=texts[r], video_tokens=int(n_video[r]), generated_tokens=int(lengths_np[r]),
                            vectors={k: v[r] for k, v in vectors.items()}) for r in range(b)]

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence vectors [N, D_sent]: masked mean of the encoder's last layer, L2 normalised."""
        enc = self.text_tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        keep = ("input_ids", "attention_mask", "token_type_ids")
        enc = {k: v.to(self.device) for k, v in enc.items() if k in keep}
        hidden = self.text_encoder(**enc).last_hidden_state.float()
        w = enc["attention_mask"].unsqueeze(-1).float()
        mean = (hidden * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
        return torch.nn.functional.normalize(mean, dim=-1).cpu().numpy().astype(np.float32)


def _load_text_encoder(cfg: DescriberConfig, device: torch.device):
    from transformers import AutoModel, AutoTokenizer

    if cfg.text_encoder_kind == "tiny":
        path = ensure_tiny_text_encoder(cfg)
    elif cfg.text_encoder_kind == "bert":
        path = Path(cfg.text_encoder_path)
    else:
        raise AbawError(f"describer.text_encoder_kind = {cfg.text_encoder_kind!r} is not one of bert, tiny")
    if not (path / "config.json").is_file():
        raise AbawError(f"describer.text_encoder_path: {path} is not a model folder (no config.json); "
                        "point it at a local sentence encoder such as a BERT checkpoint")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(device).eval()
    return model, tokenizer, folder_digest(path)

