"""`extract-audio`: one 16 kHz mono WAV per source video, decoded by the ffmpeg of `imageio-ffmpeg`.

Videos are decoded by several ffmpeg processes at once, each WAV written atomically and then recorded in
the manifest (`<wav dir>/manifest*.jsonl`) with the video file's fingerprint, so a rerun skips finished
videos and redoes replaced ones. A video without an audio track is recorded as such (its windows are
marked without audio later), and a video ffmpeg cannot read is recorded with ffmpeg's message; neither
stops the run. Training reads windows as slices of these WAVs, so no clip is ever cut or re-encoded.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from abaw.affwild import base_video, find_video_file
from abaw.atomic import atomic_path
from abaw.errors import AbawError
from abaw.manifest import Manifest, Shard, files_fingerprint, identity_fingerprint, read_manifest, shard_items
from abaw.timing import split_videos
from src_audio_and_fusion.config import SAMPLE_RATE, StageConfig, wav_dir

log = logging.getLogger("abaw.audio")

OK, NO_AUDIO, FAILED = "ok", "no_audio", "failed"
IDENTITY = identity_fingerprint({"sample_rate": SAMPLE_RATE, "channels": 1, "format": "pcm_s16le"})
_AUDIO_STREAM = re.compile(r"Stream #\S+.*: Audio:")
_VIDEO_STREAM = re.compile(r"Stream #\S+.*: Video:")


def ffmpeg_exe() -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    return get_ffmpeg_exe()


def wav_path(folder: Path, video: str) -> Path:
    """The WAV of a source video (`X_left` and `X_right` share `X.wav`)."""
    return folder / f"{base_video(video)}.wav"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def decode_to_wav(video: Path, out: Path) -> tuple[str, str]:
    """Write `out` (16 kHz mono PCM) from the audio track of `video`; returns (status, message).

    Only a file that fails to decode is probed for its streams, to tell a missing audio track from an
    unreadable file: the usual case runs one ffmpeg, not two.
    """
    try:
        with atomic_path(out) as tmp:
            result = subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
                 "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le",
                 "-f", "wav", str(tmp)],
                capture_output=True, text=True, errors="replace", check=False)
            if result.returncode != 0:
                raise _Failed(f"ffmpeg failed to decode its audio ({_last_line(result.stderr)})")
    except _Failed:
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(video)],
                               capture_output=True, text=True, errors="replace", check=False)
        if not _VIDEO_STREAM.search(probe.stderr) and not _AUDIO_STREAM.search(probe.stderr):
            return FAILED, f"ffmpeg cannot read it ({_last_line(probe.stderr)})"
        if not _AUDIO_STREAM.search(probe.stderr):
            return NO_AUDIO, "the file has no audio track"
        raise
    return OK, ""


class _Failed(Exception):
    """ffmpeg gave up on a file: recorded for that video, the run goes on."""


def _extract_one(video: Path, out: Path) -> tuple[str, str, float]:
    try:
        status, message = decode_to_wav(video, out)
    except _Failed as exc:
        status, message = FAILED, str(exc)
    seconds = soundfile.info(str(out)).duration if status == OK else 0.0
    return status, message, seconds


def source_videos(cfg: StageConfig, splits: tuple[str, ...]) -> list[str]:
    """Base video stems behind the streams of `splits`, sorted, each once."""
    stems = {base_video(str(v)) for split in splits for v in split_videos(cfg.data, split)}
    return sorted(stems)


def extract_audio(cfg: StageConfig, splits: tuple[str, ...], shard: Shard = (0, 1)) -> dict[str, int]:
    """Decode the WAV of every source video of `splits` in this shard that is not done yet."""
    folder = wav_dir(cfg)
    videos = shard_items(source_videos(cfg, splits), shard)
    files = {v: find_video_file(cfg.data.videos, v) for v in videos}
    absent = [v for v, path in files.items() if path is None]
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise AbawError(f"no video file for {', '.join(absent[:5])}{more} under data.videos = "
                        f"{cfg.data.videos}; add the videos or fix the path")
    manifest = Manifest(folder, IDENTITY, shard)
    inputs = {v: files_fingerprint([files[v]]) for v in videos}
    todo = []
    for v in videos:
        entry = manifest.entry(v)
        outputs = [wav_path(folder, v)] if entry is not None and entry.info.get("status") == OK else []
        if not manifest.is_done(v, inputs[v], outputs):
            todo.append(v)
    counts = {"videos": len(videos), "reused": len(videos) - len(todo), OK: 0, NO_AUDIO: 0, FAILED: 0}
    with ThreadPoolExecutor(max(cfg.extract_audio.workers, 1)) as pool, \
            tqdm(total=len(todo), desc="extract-audio", unit="video") as bar:
        futures = {pool.submit(_extract_one, files[v], wav_path(folder, v)): v for v in todo}
        for future in as_completed(futures):
            video = futures[future]
            status, message, seconds = future.result()
            manifest.record(video, inputs[video], status=status, message=message, seconds=round(seconds, 3),
                            source=str(files[video]), finished=time.strftime("%Y-%m-%d %H:%M:%S"))
            counts[status] += 1
            if status != OK:
                log.warning("%s: %s", files[video], message)
            bar.update()
    return counts


def audio_status(cfg: StageConfig) -> dict[str, str]:
    """Base video -> `ok`, `no_audio` or `failed`, as recorded by extract-audio (every shard)."""
    return {item: str(entry.info.get("status", FAILED)) for item, entry in read_manifest(wav_dir(cfg)).items()
            if entry.identity == IDENTITY}


def check_wav(path: Path) -> int:
    """Number of samples of a WAV that must be 16 kHz mono; anything else is refused with the fix."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise AbawError(f"{path}: not a readable WAV ({exc}); rerun extract-audio") from exc
    if info.samplerate != SAMPLE_RATE or info.channels != 1:
        raise AbawError(f"{path}: {info.samplerate} Hz with {info.channels} channel(s); the audio model "
                        f"reads {SAMPLE_RATE} Hz mono, so delete the file and rerun extract-audio to decode "
                        "it again")
    return int(info.frames)


def read_samples(path: Path, start: int, stop: int) -> np.ndarray:
    """float32 samples [start, stop) of a WAV (fewer when the file ends earlier)."""
    with soundfile.SoundFile(str(path)) as fh:
        if start >= fh.frames:
            return np.zeros(0, np.float32)
        fh.seek(max(start, 0))
        return fh.read(max(min(stop, fh.frames) - max(start, 0), 0), dtype="float32")
