"""The stage's config: `[data]` (shared) plus one section per command family.

Audio: `[extract_audio]`, `[windows]`, `[reliability]`, `[audio]` (the network), `[augment]`,
`[train_audio]` and `[export_audio]`. RAAV fusion: `[fusion]` (inputs and network), `[train_fusion]` and
`[export_fusion]`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from abaw.config import DataConfig, config_sha, load_config
from abaw.errors import AbawError
from abaw.smoothing import SmoothingOption
from abaw.training import TrainConfig as LoopConfig

SPLITS = ("train", "val", "test")
SAMPLE_RATE = 16_000


@dataclasses.dataclass(frozen=True)
class ExtractAudioConfig:
    out: Path | None = None  # WAV folder; default <output_root>/audio_wav
    workers: int = 4  # ffmpeg processes at once
    splits: tuple[str, ...] = SPLITS


@dataclasses.dataclass(frozen=True)
class WindowsConfig:
    length: float = 4.0  # seconds per window
    hop: float = 2.0  # seconds between window starts
    min_length: float = 1.0  # a tail window is kept when at least this long
    steps: int = 4  # targets per window (1 s bins)
    out: Path | None = None  # windows tables; default <output_root>/audio_windows


@dataclasses.dataclass(frozen=True)
class ReliabilityConfig:
    openmouth: Path = Path("data/openmouth")  # folder of <stream>.csv mouth-openness files
    policy: Literal["mouth", "vad", "both", "either", "none"] = "mouth"
    min_open_ratio: float = 0.25  # mouth open for at least this share of the window
    min_coverage: float = 0.8  # at least this share of the window's frames in the mouth file
    min_speech_ratio: float = 0.25  # voice activity for at least this share of the window
    vad_threshold: float = 0.5  # silero-vad speech probability counted as voice


@dataclasses.dataclass(frozen=True)
class AudioConfig:
    kind: Literal["wavlm", "tiny"] = "wavlm"
    path: Path = Path("models/wavlm-large")  # WavLM folder (wavlm) or where the tiny one is built (tiny)
    overlay: Path | None = None  # speech-emotion safetensors whose tensors replace the backbone's
    overlay_prefix: str = ""  # key prefix stripped from the overlay's tensor names
    normalise: Literal["window", "global", "none"] = "window"
    trainable_layers: int = 4  # last encoder layers trained; -1 trains the whole backbone
    pool_hidden: int = 128  # attention width of the statistics pooling
    head_dim: int = 256  # embedding size per step
    dropout: float = 0.1
    # tiny only: the random WavLM's shape
    hidden: int = 64
    layers: int = 2
    heads: int = 4
    conv_dim: int = 64
    conv_bias: bool = False
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    gain_p: float = 0.5
    gain_db: float = 6.0  # gain drawn in [-gain_db, gain_db]
    noise_p: float = 0.3
    snr_db: tuple[float, float] = (5.0, 30.0)
    band_p: float = 0.2
    low_hz: tuple[float, float] = (50.0, 400.0)  # high-pass cut drawn in this range
    high_hz: tuple[float, float] = (3000.0, 7500.0)  # low-pass cut drawn in this range
    reverb_p: float = 0.2
    rt60: tuple[float, float] = (0.1, 0.6)  # seconds


@dataclasses.dataclass(frozen=True)
class TrainAudioConfig(LoopConfig):
    """The shared `[train]` keys of `abaw.training` plus the audio model's own."""

    name: str = "audio"
    epochs: int = 20
    lr: float = 2e-4  # head and pooling
    backbone_lr: float = 5e-6
    batch_size: int = 8
    ema_decay: float = 0.998
    amp_dtype: Literal["float16", "bfloat16"] = "bfloat16"
    num_workers: int = 4
    plateau_patience: int = 3
    early_stop_patience: int = 6
    loss_weights: tuple[float, ...] = (0.7, 0.3)
    mse_weight: float = 0.1
    min_labelled_steps: int = 2
    only_reliable: bool = True
    eval_batch_size: int = 16
    ridge_baseline: bool = True


@dataclasses.dataclass(frozen=True)
class ExportAudioConfig:
    splits: tuple[str, ...] = SPLITS
    embedding_dtype: Literal["float32", "float16"] = "float16"
    out: Path | None = None


@dataclasses.dataclass(frozen=True)
class FusionConfig:
    """RAAV inputs (exported tables, `<dir>/<split>.npz`) and network."""

    modalities: tuple[str, ...] = ("face", "behaviour")  # frame modalities, in gate order
    tables: tuple[Path, ...] = (Path("face_export"), Path("behaviour_export"))  # one frames folder each
    priors: tuple[float, ...] = (0.85, 0.15)  # gate prior of each frame modality (log added to its logit)
    audio: Path | None = Path("audio_export/windows")  # audio windows folder; None = no audio
    reliability: Literal["column", "has_audio"] = "column"  # which windows bring audio in
    window: int = 120  # frames per sample without audio (with audio: the audio windows)
    hop: int = 60  # frames between samples without audio
    hidden: int = 256
    heads: int = 4
    latents: int = 4  # learned audio latents
    gate_hidden: int = 64
    dropout: float = 0.1
    residual: str = ""  # a frame modality whose own prediction the head corrects ("" = the head alone)


@dataclasses.dataclass(frozen=True)
class TrainFusionConfig(LoopConfig):
    """The shared `[train]` keys of `abaw.training` plus the fusion's own."""

    name: str = "raav"
    epochs: int = 30
    lr: float = 5e-5
    batch_size: int = 32
    early_stop_patience: int = 8
    loss_weights: tuple[float, ...] = (0.7, 0.3)
    mse_weight: float = 0.01
    eval_batch_size: int = 64


@dataclasses.dataclass(frozen=True)
class ExportFusionConfig:
    splits: tuple[str, ...] = SPLITS
    embedding_dtype: Literal["float32", "float16"] = "float16"
    smoothing: SmoothingOption = SmoothingOption()
    out: Path | None = None


@dataclasses.dataclass(frozen=True)
class StageConfig:
    data: DataConfig = DataConfig()
    extract_audio: ExtractAudioConfig = ExtractAudioConfig()
    windows: WindowsConfig = WindowsConfig()
    reliability: ReliabilityConfig = ReliabilityConfig()
    audio: AudioConfig = AudioConfig()
    augment: AugmentConfig = AugmentConfig()
    train_audio: TrainAudioConfig = TrainAudioConfig()
    export_audio: ExportAudioConfig = ExportAudioConfig()
    fusion: FusionConfig = FusionConfig()
    train_fusion: TrainFusionConfig = TrainFusionConfig()
    export_fusion: ExportFusionConfig = ExportFusionConfig()


def load(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> StageConfig:
    """Read and check a stage config; problems name the key and the file."""
    cfg = load_config(StageConfig, path, overrides)
    check(cfg, str(Path(path)))
    return cfg


def check(cfg: StageConfig, source: str) -> None:
    w = cfg.windows
    if not 0 < w.min_length <= w.length or not 0 < w.hop <= w.length:
        raise AbawError(f"{source}: [windows] needs 0 < min_length <= length and 0 < hop <= length")
    if w.steps < 1 or abs(w.length / w.steps - 1.0) > 1e-9:
        raise AbawError(f"{source}: windows.steps = {w.steps}; the targets are 1 s bins, so steps must equal "
                        f"windows.length = {w.length}")
    if cfg.train_audio.min_labelled_steps > w.steps:
        raise AbawError(f"{source}: train_audio.min_labelled_steps exceeds windows.steps = {w.steps}")
    if len(cfg.train_audio.loss_weights) != 2:
        raise AbawError(f"{source}: train_audio.loss_weights needs two values (valence, arousal)")
    for key, splits in (("extract_audio.splits", cfg.extract_audio.splits),
                        ("export_audio.splits", cfg.export_audio.splits),
                        ("export_fusion.splits", cfg.export_fusion.splits)):
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise AbawError(f"{source}: {key} names {unknown}; valid splits are {', '.join(SPLITS)}")
    a = cfg.audio
    if a.kind == "tiny" and a.hidden % a.heads:
        raise AbawError(f"{source}: audio.hidden = {a.hidden} must be a multiple of audio.heads = {a.heads}")
    check_fusion(cfg.fusion, source)
    if len(cfg.train_fusion.loss_weights) != 2:
        raise AbawError(f"{source}: train_fusion.loss_weights needs two values (valence, arousal)")
    probabilities = {k: getattr(cfg.augment, k) for k in ("gain_p", "noise_p", "band_p", "reverb_p")}
    bad = [f"augment.{k} = {v}" for k, v in probabilities.items() if not 0 <= v <= 1]
    if bad:
        raise AbawError(f"{source}: {', '.join(bad)}; probabilities lie in [0, 1]")


def check_fusion(f: FusionConfig, source: str) -> None:
    n = len(f.modalities)
    if len(f.tables) != n or len(f.priors) != n:
        raise AbawError(f"{source}: fusion.modalities, fusion.tables and fusion.priors need one entry per "
                        f"frame modality; got {n}, {len(f.tables)} and {len(f.priors)}")
    if n == 0:
        raise AbawError(f"{source}: fusion.modalities is empty; the audio enters through the frames, so "
                        "at least one frame modality is needed")
    if len(set(f.modalities)) < n:
        raise AbawError(f"{source}: fusion.modalities names a modality twice: {list(f.modalities)}")
    if any(p <= 0 for p in f.priors):
        raise AbawError(f"{source}: fusion.priors = {list(f.priors)}; priors must be > 0")
    if f.residual and f.residual not in f.modalities:
        raise AbawError(f"{source}: fusion.residual = {f.residual!r} is not in fusion.modalities "
                        f"{list(f.modalities)}; name one of them or set \"\" for the head alone")
    if not 1 <= f.hop <= f.window:
        raise AbawError(f"{source}: fusion needs 1 <= hop <= window, got hop {f.hop}, window {f.window}")
    if f.hidden % f.heads or f.latents < 1:
        raise AbawError(f"{source}: fusion.hidden = {f.hidden} must be a multiple of fusion.heads = "
                        f"{f.heads}, and fusion.latents >= 1")


def wav_dir(cfg: StageConfig) -> Path:
    return cfg.extract_audio.out or cfg.data.output_root / "audio_wav"


def windows_dir(cfg: StageConfig) -> Path:
    return cfg.windows.out or cfg.data.output_root / "audio_windows"


def windows_sha(cfg: StageConfig) -> str:
    """Fingerprint of what shapes the windows tables: the [windows] and [reliability] sections."""
    return config_sha(cfg.windows) + config_sha(cfg.reliability)
