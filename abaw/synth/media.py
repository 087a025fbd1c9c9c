"""One recording's media: the video file with its audio track, the face crops and the mouth tables.

Frames are piped raw into the ffmpeg of `imageio-ffmpeg`, which encodes them at the recording's exact
frame rate and muxes the audio in the same pass. Encoders run single-threaded so that the same seed
decodes to the same frames and samples.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile

from abaw.atomic import atomic_path
from abaw.synth import faces, voices
from abaw.synth.labels import openmouth_text
from abaw.synth.plan import PANEL, Recording, rng
from abaw.synth.trajectories import Track

JPEG_QUALITY = 90
_CODECS = {
    "mp4": ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "27", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-f", "mp4"],
    "avi": ["-c:v", "mpeg4", "-q:v", "5", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-f", "avi"],
}


@dataclass(frozen=True)
class Job:
    """Everything a worker process needs to produce one recording."""

    root: Path
    seed: int
    recording: Recording
    tracks: tuple[Track, ...]


def ffmpeg_exe() -> str:
    from imageio_ffmpeg import get_ffmpeg_exe

    return get_ffmpeg_exe()


def render_recording(job: Job) -> dict:
    """Write the video file, crops and mouth tables of one recording; returns per-video counts."""
    rec, root = job.recording, job.root
    renderers, scene = painters(job)
    crop_dirs = [root / "cropped_aligned" / name for name in rec.videos]
    for folder in crop_dirs:
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="abaw-synth-") as tmp:
        wav = Path(tmp) / "audio.wav"
        soundfile.write(wav, audio(job), voices.SAMPLE_RATE, subtype="PCM_16")
        with atomic_path(root / rec.file) as out:
            command = _encode_command(rec, wav, out)
            encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                _stream_frames(encoder, rec, renderers, scene, crop_dirs)
            except BrokenPipeError:
                pass  # ffmpeg stopped early; its message, read below, says why
            finally:
                with contextlib.suppress(BrokenPipeError):
                    encoder.stdin.close()
                error = encoder.stderr.read().decode(errors="replace")
                encoder.wait()
            if encoder.returncode != 0:
                raise RuntimeError(f"ffmpeg failed to write {rec.file}: {error.strip()}")
    counts = {}
    for name, track, renderer in zip(rec.videos, job.tracks, renderers, strict=True):
        frames = np.flatnonzero(track.face) + 1
        area = renderer.p["mouth_area"][track.face]
        is_open = area > faces.EXPRESSION["mouth_open"]["open_area_px"]
        with atomic_path(root / "openmouth" / f"{name}.csv") as out:
            out.write_bytes(openmouth_text(frames, area, is_open))
        counts[name] = {"crops": int(track.face.sum()), "mouth_open": int(is_open.sum())}
    return counts


def painters(job: Job) -> tuple[list[faces.FaceRenderer], faces.Scene]:
    """What draws the recording's frames: one face renderer per person and the scene."""
    rec, seed = job.recording, job.seed
    left = (rec.width - PANEL * rec.persons) / 2
    renderers = []
    for k, track in enumerate(job.tracks):
        style = faces.face_style(rng(seed, rec.stem, "face", str(k)))
        params = faces.expression(track, style, rec.fps, rng(seed, rec.stem, "expression", str(k)))
        renderers.append(faces.FaceRenderer(style, params, track.face, left + k * PANEL))
    return renderers, faces.scene(rng(seed, rec.stem, "scene"), rec.width, rec.height, rec.frames, rec.fps)


def paint(frame: np.ndarray, i: int, renderers: list[faces.FaceRenderer], scene: faces.Scene) -> None:
    """Frame i of the recording into `frame` (BGR uint8 [H, W, 3]), in place: the picture the encoder gets."""
    np.copyto(frame, scene.background)
    for renderer in renderers:
        renderer.draw(frame, i)
    scene.finish(frame, i)


def render_frames(job: Job, rows: np.ndarray) -> np.ndarray:
    """BGR uint8 [len(rows), H, W, 3]: frames `rows` (0-based) of the recording as they go to the encoder,
    drawn in memory without writing any file; each frame depends on its row alone."""
    rec = job.recording
    renderers, scene = painters(job)
    frames = np.empty((len(rows), rec.height, rec.width, 3), np.uint8)
    for frame, i in zip(frames, rows, strict=True):
        paint(frame, int(i), renderers, scene)
    return frames


def _encode_command(rec: Recording, wav: Path, out: Path) -> list[str]:
    """ffmpeg reading raw YUV 4:2:0 frames on stdin and the WAV, writing the container; single-threaded
    encoders keep the output deterministic, a keyframe every 2 s keeps seeking cheap."""
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "rawvideo",
            "-pix_fmt", "yuv420p", "-s", f"{rec.width}x{rec.height}", "-framerate", rec.rate, "-i", "pipe:0",
            "-i", str(wav), "-map", "0:v", "-map", "1:a", "-threads", "1",
            "-g", str(max(round(2 * rec.fps), 1)), *_CODECS[rec.container], str(out)]


def _stream_frames(encoder: subprocess.Popen, rec: Recording, renderers: list[faces.FaceRenderer],
                   scene: faces.Scene, crop_dirs: list[Path]) -> None:
    """Render every frame, pipe it to the encoder and save the crops of the visible faces."""
    frame = np.empty((rec.height, rec.width, 3), np.uint8)
    for i in range(rec.frames):
        paint(frame, i, renderers, scene)
        encoder.stdin.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).data)
        for renderer, folder in zip(renderers, crop_dirs, strict=True):
            if renderer.face[i]:
                cv2.imwrite(str(folder / f"{i + 1:05d}.jpg"), renderer.crop(frame, i),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])


def audio(job: Job) -> np.ndarray:
    """int16 [samples] of the recording: every person's voice and the room noise on one mono track."""
    rec, seed = job.recording, job.seed
    n_samples = round(rec.frames / rec.fps * voices.SAMPLE_RATE)
    parts = [voices.background(rng(seed, rec.stem, "room"), n_samples)]
    for k, track in enumerate(job.tracks):
        style = voices.voice_style(rng(seed, rec.stem, "voice", str(k)))
        breath = rng(seed, rec.stem, "breath", str(k))
        parts.append(voices.voice(track, style, rec.fps, n_samples, breath))
    return voices.mix(parts)


def decode_audio(path: str | Path, sample_rate: int = voices.SAMPLE_RATE) -> np.ndarray:
    """float32 mono samples of a media file's audio track, decoded by ffmpeg."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-vn",
               "-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg cannot decode the audio of {path}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(result.stdout, np.int16).astype(np.float32) / 32768


def read_frames(path: str | Path) -> np.ndarray:
    """Every frame of a video decoded by OpenCV, uint8 [N, H, W, 3]."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        ok, frame = capture.read()
        while ok:
            frames.append(frame)
            ok, frame = capture.read()
    finally:
        capture.release()
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)
