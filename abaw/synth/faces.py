"""Procedurally drawn faces whose expression follows a person's valence/arousal track.

Valence bends the mouth (a broad smile shows teeth), tilts the eyebrows and creases the brow when
negative; arousal opens the eyes, raises the brows, flushes the cheeks and speeds up head motion and hand
gestures; the mouth opens with each spoken syllable. Every expression parameter gets per-frame noise and
a per-person resting offset, so one frame tells part of the story and a few seconds of context tell more.
Shapes are in face units (1 = half the face width, y pointing down) and go through one rotation and
translation per frame; OpenCV draws them with sub-pixel precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from abaw.synth.plan import PANEL
from abaw.synth.trajectories import Track, envelope, smooth_noise

CROP = 112
_SUBPIXEL = 16  # OpenCV draws with 4 fractional bits
_SHIFT = 4

# How the face follows valence (v) and arousal (a), a01 = (a + 1) / 2; recorded in dataset.json.
EXPRESSION = {
    "mouth_curve": {"valence": 1.0, "frame_noise_sd": 0.2, "person_sd": 0.08},
    "brow_slope": {"valence": 0.7, "frame_noise_sd": 0.25, "person_sd": 0.1},
    "eye_open": {"base": 0.6, "arousal": 0.45, "frame_noise_sd": 0.1, "person_sd": 0.05,
                 "blinks_per_second": 0.3, "blink_seconds": 0.12},
    "brow_raise": {"arousal": 0.8, "frame_noise_sd": 0.25},
    "blush": {"arousal01": 0.7, "frame_noise_sd": 0.1},  # how much the cheeks darken towards red
    "mouth_open": {"rest": 0.03, "speech": 0.5, "speech_arousal01": 0.4, "smile": 0.5, "frame_noise_sd": 0.03,
                   "open_area_px": 100.0},
    "head_motion": {"base": 0.25, "arousal01": 1.0, "slow_seconds": 2.0, "fast_seconds": 0.4,
                    "shift": 0.08, "roll_degrees": 5.0, "yaw": 0.2},
    "gesture": {"energy": "a01 ** 2", "seconds": 0.5},
    "crop": {"size": CROP, "side_face_units": 2.3, "tracking_frames": 3, "jitter": 0.025},
}

_SKIN = (np.array([175.0, 200.0, 235.0]), np.array([55.0, 80.0, 120.0]))  # BGR, light and dark ends
_HAIR = np.array([[20, 20, 25], [30, 45, 70], [40, 90, 150], [90, 140, 200], [150, 150, 150], [30, 50, 120]])
_IRIS = np.array([[30, 60, 100], [140, 110, 60], [70, 120, 60], [40, 40, 40]])
_BLUSH = (0.6, 0.6, 0.15)  # a flush darkens blue and green much more than red
_MOUTH_INSIDE = (45, 25, 50)
_TEETH = (225, 235, 240)
_EYE_WHITE = (235, 240, 240)
_MOUTH_XS = np.linspace(-1, 1, 9)  # where the lips are sampled across the mouth, in half-widths
_MOUTH_BULGE = 1 - _MOUTH_XS**2

Colour = tuple[float, float, float]


@dataclass(frozen=True)
class FaceStyle:
    """A person's looks and resting expression."""

    skin: Colour
    hair: Colour
    brows: Colour
    iris: Colour
    lips: Colour
    clothes: Colour
    hair_style: int  # 0 long, 1 fringe, 2 short
    radius: float  # face half-width in pixels
    aspect: float  # half-height / half-width
    eye_gap: float
    eye_size: float
    mouth_width: float
    brow_px: int
    neutral_curve: float
    neutral_brow: float
    neutral_eye: float
    motion: float
    gesture: float
    centre: tuple[float, float]  # face centre in its panel, pixels


def face_style(r: np.random.Generator) -> FaceStyle:
    tone = r.uniform(0.0, 0.6)
    skin = _SKIN[0] * (1 - tone) + _SKIN[1] * tone + r.normal(0, 8, 3)
    hair = _HAIR[r.integers(len(_HAIR))] + r.normal(0, 10, 3)
    e = EXPRESSION
    return FaceStyle(
        skin=_colour(skin), hair=_colour(hair), brows=_colour(0.45 * hair + 10),
        iris=_colour(_IRIS[r.integers(len(_IRIS))]), lips=_colour(skin * np.array([0.55, 0.55, 0.85])),
        clothes=_colour(r.uniform(30, 220, 3)), hair_style=int(r.integers(3)),
        radius=r.uniform(0.19, 0.25) * PANEL, aspect=r.uniform(1.2, 1.35), eye_gap=r.uniform(0.36, 0.46),
        eye_size=r.uniform(0.17, 0.23), mouth_width=r.uniform(0.38, 0.52), brow_px=int(r.integers(3, 7)),
        neutral_curve=r.normal(0, e["mouth_curve"]["person_sd"]),
        neutral_brow=r.normal(0, e["brow_slope"]["person_sd"]),
        neutral_eye=r.normal(0, e["eye_open"]["person_sd"]), motion=r.uniform(0.6, 1.4),
        gesture=r.uniform(0.5, 1.0), centre=(PANEL / 2 + r.normal(0, 6), PANEL / 2 + r.normal(-6, 6)))


def _colour(bgr: np.ndarray) -> Colour:
    return tuple(float(c) for c in np.clip(bgr, 0, 255))


def _scaled(colour: Colour, factors: Colour | float) -> Colour:
    factors = factors if isinstance(factors, tuple) else (factors,) * 3
    return tuple(c * f for c, f in zip(colour, factors, strict=True))


def expression(track: Track, style: FaceStyle, fps: float, r: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-frame drawing parameters of one person (float64 [N] each), vectorised over the recording."""
    e = EXPRESSION
    n = len(track.valence)
    v, a = track.valence.astype(np.float64), track.arousal.astype(np.float64)
    a01 = (a + 1) / 2
    noise = r.standard_normal((6, n))
    curve, brow, eye = e["mouth_curve"], e["brow_slope"], e["eye_open"]
    p = {"curve": style.neutral_curve + curve["valence"] * v + curve["frame_noise_sd"] * noise[0],
         "brow": style.neutral_brow + brow["valence"] * v + brow["frame_noise_sd"] * noise[1],
         "raise": e["brow_raise"]["arousal"] * a + e["brow_raise"]["frame_noise_sd"] * noise[2],
         "blush": np.clip(e["blush"]["arousal01"] * a01 + e["blush"]["frame_noise_sd"] * noise[5], 0.0, 0.9),
         "eye": np.clip(eye["base"] + style.neutral_eye + eye["arousal"] * a
                        + eye["frame_noise_sd"] * noise[3], 0.1, 1.1)}
    blinks = r.random(n) < eye["blinks_per_second"] / fps
    closed = np.convolve(blinks, np.ones(max(round(eye["blink_seconds"] * fps), 1)), "full")[:n] > 0
    p["eye"][closed] = 0.05
    mouth = e["mouth_open"]
    speech = envelope(track.syllables, (np.arange(n) + 0.5) / fps)
    talking = speech * (mouth["speech"] + mouth["speech_arousal01"] * a01)
    smiling = mouth["smile"] * np.clip(p["curve"], 0.0, 1.0)  # a broad smile parts the lips
    opening = mouth["rest"] + np.maximum(talking, smiling) + mouth["frame_noise_sd"] * noise[4]
    p["mouth"] = np.clip(opening, 0.0, 1.0)
    p["mouth_area"] = mouth_area(p["curve"], p["mouth"], style)
    p.update(_motion(style, a01, fps, r))
    return p


def _motion(style: FaceStyle, a01: np.ndarray, fps: float, r: np.random.Generator) -> dict[str, np.ndarray]:
    """Head pose, gaze, hand gestures and the lagging crop tracker."""
    e = EXPRESSION
    n = len(a01)
    head = e["head_motion"]
    amplitude = style.motion * (head["base"] + head["arousal01"] * a01)
    slow = smooth_noise(r, n, head["slow_seconds"] * fps, 3)
    motion = amplitude * (slow + 0.6 * smooth_noise(r, n, head["fast_seconds"] * fps, 3))
    gaze = np.tanh(smooth_noise(r, n, 0.8 * fps, 2))
    energy = style.gesture * a01**2
    wave = smooth_noise(r, n, e["gesture"]["seconds"] * fps, 2)
    p = {"dx": head["shift"] * motion[0], "dy": 0.5 * head["shift"] * motion[1],
         "roll": np.deg2rad(head["roll_degrees"]) * motion[2],
         "yaw": np.clip(head["yaw"] * (slow[0] - slow[2]) * amplitude, -0.6, 0.6),
         "gaze_x": 0.3 * gaze[0], "gaze_y": 0.2 * gaze[1],
         "hand_x": 1.1 + 0.4 * energy * wave[0], "hand_y": 2.9 - energy * (1.6 + 0.6 * np.tanh(wave[1]))}
    # The crop follows the mean of the last few head positions, so fast motion misaligns it.
    lag = e["crop"]["tracking_frames"]
    jitter = e["crop"]["jitter"] * r.standard_normal((3, n))
    for k, key in enumerate(("dx", "dy", "roll")):
        padded = np.concatenate([np.full(lag - 1, p[key][0]), p[key]])
        p[f"crop_{key}"] = np.convolve(padded, np.ones(lag) / lag, "valid") + (jitter[k] if k < 2 else 0.0)
    p["crop_scale"] = 1 + jitter[2]
    return p


def mouth_area(curve: np.ndarray, opening: np.ndarray, style: FaceStyle) -> np.ndarray:
    """Area of the open mouth in crop pixels: a parabolic segment, 2/3 of width x height."""
    half_width = style.mouth_width * (1 + 0.2 * curve)
    pixels = CROP / EXPRESSION["crop"]["side_face_units"]  # crop pixels per face unit
    return 4.0 / 3.0 * half_width * 0.25 * opening * pixels**2


class _Pen:
    """Draws shapes given in face units through one frame's rotation, scale and translation."""

    def __init__(self, img: np.ndarray, radius: float, roll: float, centre: np.ndarray) -> None:
        c, s = np.cos(roll), np.sin(roll)
        self.img, self.radius, self.angle = img, radius, float(np.rad2deg(roll))
        self.matrix = radius * np.array([[c, s], [-s, c]])  # row vectors: point @ matrix
        self.centre = centre
        # The same transform on plain floats for single points: numpy costs more than the arithmetic there.
        (self._a, self._b), (self._c, self._d) = self.matrix.tolist()
        self._x0, self._y0 = (float(v) for v in centre)

    def points(self, xy) -> np.ndarray:
        return np.rint((np.asarray(xy, np.float64) @ self.matrix + self.centre) * _SUBPIXEL).astype(np.int32)

    def point(self, x: float, y: float) -> tuple[int, int]:
        """`points` of one point; `round` rounds half to even like `np.rint`."""
        return (round((x * self._a + y * self._c + self._x0) * _SUBPIXEL),
                round((x * self._b + y * self._d + self._y0) * _SUBPIXEL))

    def ellipse(self, x: float, y: float, ax: float, ay: float, colour: Colour, thickness: int = -1,
                start: float = 0, stop: float = 360) -> None:
        cx, cy = self.point(float(x), float(y))
        axes = (max(int(ax * self.radius * _SUBPIXEL), 1), max(int(ay * self.radius * _SUBPIXEL), 1))
        cv2.ellipse(self.img, (cx, cy), axes, self.angle, start, stop, colour, thickness,
                    cv2.LINE_AA, _SHIFT)

    def polygon(self, xy, colour: Colour) -> None:
        cv2.fillPoly(self.img, [self.points(xy)], colour, cv2.LINE_AA, _SHIFT)

    def line(self, xy, colour: Colour, thickness: int) -> None:
        cv2.polylines(self.img, [self.points(xy)], False, colour, thickness, cv2.LINE_AA, _SHIFT)


class FaceRenderer:
    """Draws one person into video frames and cuts the aligned crops."""

    def __init__(self, style: FaceStyle, params: dict[str, np.ndarray], face: np.ndarray,
                 left: float) -> None:
        self.style, self.p, self.face, self.left = style, params, face, left

    def _pen(self, img: np.ndarray, roll: float, dx: float, dy: float) -> _Pen:
        st = self.style
        centre = np.array([self.left + st.centre[0] + dx * st.radius, st.centre[1] + dy * st.radius])
        return _Pen(img, st.radius, roll, centre)

    def draw(self, img: np.ndarray, i: int) -> None:
        """Draw frame i of this person into `img` (in place)."""
        p = self.p
        body = self._pen(img, 0.3 * p["roll"][i], 0.5 * p["dx"][i], 0.5 * p["dy"][i])
        pen = self._pen(img, p["roll"][i], p["dx"][i], p["dy"][i])
        self._body(body)
        self._head(pen, i)
        self._eyes(pen, i)
        self._mouth(pen, i)
        self._hands(pen, i)

    def _body(self, pen: _Pen) -> None:
        st = self.style
        shoulders = np.array([[-1.9, 3.2], [-1.6, 1.45], [-0.4, 1.05], [0.4, 1.05], [1.6, 1.45], [1.9, 3.2]])
        pen.polygon(shoulders * [1, st.aspect], st.clothes)
        pen.polygon(np.array([[-0.32, 0.7], [0.32, 0.7], [0.3, 1.15], [-0.3, 1.15]]) * [1, st.aspect],
                    _scaled(st.skin, 0.8))

    def _head(self, pen: _Pen, i: int) -> None:
        st, p = self.style, self.p
        asp, yaw = st.aspect, p["yaw"][i]
        shade = _scaled(st.skin, 0.8)
        if st.hair_style == 0:
            pen.ellipse(0, 0.05 * asp, 1.2, 1.12 * asp, st.hair)
        for side in (-1, 1):
            pen.ellipse(side * (1.0 - 0.1 * side * yaw), 0.05, 0.16, 0.26, shade)
        pen.ellipse(0.05 * yaw, 0, 1.0, asp, st.skin)
        pen.ellipse(0.05 * yaw, 0, 1.0, asp, shade, 2)
        if st.hair_style < 2:
            fringe = 0.55 if st.hair_style else 0.45
            pen.ellipse(0.05 * yaw, -0.5 * asp, 1.0, fringe * asp, st.hair, -1, 180, 360)
        else:
            pen.ellipse(0.05 * yaw, -0.72 * asp, 0.85, 0.3 * asp, st.hair, -1, 180, 360)
        shift = 0.2 * yaw
        flush = _scaled(st.skin, tuple(1 - p["blush"][i] * k for k in _BLUSH))
        for side in (-1, 1):
            pen.ellipse(side * 0.55 + shift, 0.25 * asp, 0.24, 0.15, flush)
        pen.line([[1.2 * shift, -0.02], [1.4 * shift - 0.08, 0.3], [1.4 * shift + 0.06, 0.32]], shade, 2)

    def _eyes(self, pen: _Pen, i: int) -> None:
        st, p = self.style, self.p
        shift, eye_y, opening = 0.2 * p["yaw"][i], -0.12 * st.aspect, p["eye"][i]
        brow_y = eye_y - 0.22 - 0.12 * p["raise"][i]
        for side in (-1, 1):
            x = side * st.eye_gap + shift
            width = st.eye_size * (1 + 0.25 * side * p["yaw"][i])
            height = max(0.6 * width * opening, 0.01)
            pen.ellipse(x, eye_y, width, height, _EYE_WHITE)
            if opening > 0.15:
                iris = min(0.5 * width, height)
                gx, gy = x + p["gaze_x"][i] * width, eye_y + p["gaze_y"][i] * height
                pen.ellipse(gx, gy, iris, iris, st.iris)
                pen.ellipse(gx, gy, 0.45 * iris, 0.45 * iris, (20, 20, 20))
            pen.ellipse(x, eye_y, width, height, (40, 40, 50), 1)
            inner = side * (st.eye_gap - 0.7 * st.eye_size) + shift
            outer = side * (st.eye_gap + 0.9 * st.eye_size) + shift
            pen.line([[outer, brow_y + 0.05 * p["brow"][i]], [(inner + outer) / 2, brow_y - 0.04],
                      [inner, brow_y - 0.14 * p["brow"][i]]], st.brows, st.brow_px)
        furrow = float(np.clip(-p["brow"][i], 0.0, 1.0))  # a frown creases the skin between the brows
        if furrow > 0.05:
            for side in (-1, 1):
                pen.line([[side * 0.07 + shift, eye_y - 0.3], [side * 0.05 + shift, eye_y - 0.1]],
                         _scaled(self.style.skin, 1 - 0.5 * furrow), 2)

    def _mouth(self, pen: _Pen, i: int) -> None:
        st, p = self.style, self.p
        xs, bulge = _MOUTH_XS, _MOUTH_BULGE
        x = xs * st.mouth_width * (1 + 0.2 * p["curve"][i]) + 0.22 * p["yaw"][i]
        base = 0.5 * st.aspect - 0.28 * p["curve"][i] * xs**2  # corners rise with a smile
        gap = 0.25 * p["mouth"][i] * bulge
        upper = np.stack([x, base - 0.05 * bulge - 0.015], axis=1)
        lower = np.stack([x, base + gap + 0.06 * bulge + 0.015], axis=1)
        pen.polygon(np.concatenate([upper, lower[::-1]]), st.lips)
        line = np.stack([x, base], axis=1)
        if p["mouth"][i] > 0.04:
            pen.polygon(np.concatenate([line, np.stack([x, base + gap], axis=1)[::-1]]), _MOUTH_INSIDE)
            teeth = np.concatenate([line, np.stack([x, base + np.minimum(gap, 0.1)], axis=1)[::-1]])
            pen.polygon(teeth[1:-1], _TEETH)
        else:
            pen.line(line, _MOUTH_INSIDE, 1)

    def _hands(self, pen: _Pen, i: int) -> None:
        st, p = self.style, self.p
        hand, shade = _scaled(st.skin, 0.92), _scaled(st.skin, 0.8)
        pen.ellipse(p["hand_x"][i], p["hand_y"][i] * st.aspect, 0.3, 0.4, hand)
        pen.ellipse(p["hand_x"][i], p["hand_y"][i] * st.aspect, 0.3, 0.4, shade, 2)
        if not self.face[i]:  # a hand over the face: no detector would find it
            pen.ellipse(0.1, 0.15, 0.8, 1.0, hand)
            pen.ellipse(0.1, 0.15, 0.8, 1.0, shade, 2)

    def crop(self, img: np.ndarray, i: int) -> np.ndarray:
        """The aligned 112x112 crop of frame i, cut from the finished frame where a tracker sees the face."""
        p = self.p
        pen = self._pen(img, 0.8 * p["crop_roll"][i], p["crop_dx"][i], p["crop_dy"][i])
        scale = EXPRESSION["crop"]["side_face_units"] * p["crop_scale"][i] / CROP
        linear = pen.matrix.T * scale  # crop pixel offsets -> frame pixels (column vectors)
        centre = pen.centre + np.array([0.0, -0.05 * self.style.radius])
        warp = np.concatenate([linear, (centre - linear @ np.full(2, CROP / 2 - 0.5))[:, None]], axis=1)
        return cv2.warpAffine(img, warp, (CROP, CROP), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class Scene:
    """A recording's background, exposure and camera noise."""

    background: np.ndarray  # uint8 [H, W, 3]
    gain: np.ndarray  # float64 [N] exposure per frame
    noise_up: np.ndarray  # uint8 [K, H + 8, W + 8, 3]: positive and negative halves of the camera noise
    noise_down: np.ndarray
    pick: np.ndarray  # int64 [N, 3]: noise image and its offset per frame

    def finish(self, img: np.ndarray, i: int) -> None:
        """Apply exposure and sensor noise to frame i, in place."""
        k, oy, ox = self.pick[i]
        h, w = img.shape[:2]
        cv2.convertScaleAbs(img, img, alpha=float(self.gain[i]))
        cv2.add(img, self.noise_up[k, oy:oy + h, ox:ox + w], img)
        cv2.subtract(img, self.noise_down[k, oy:oy + h, ox:ox + w], img)


def scene(r: np.random.Generator, width: int, height: int, n: int, fps: float) -> Scene:
    top, bottom = r.uniform(60, 200, 3), r.uniform(60, 200, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    background = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).copy()
    for _ in range(int(r.integers(2, 6))):  # furniture, windows, posters
        x0, y0 = r.integers(0, width), r.integers(0, height)
        x1, y1 = x0 + r.integers(20, width // 2), y0 + r.integers(20, height // 2)
        background[y0:y1, x0:x1] = r.uniform(20, 240, 3)
    background = cv2.GaussianBlur(np.clip(background, 0, 255).astype(np.uint8), (0, 0), 2.0)
    gain = r.uniform(0.8, 1.15) * (1 + 0.04 * smooth_noise(r, n, 3 * fps)[0])
    noise = r.normal(0, r.uniform(1.5, 5.0), (4, height + 8, width + 8, 3))
    pick = np.stack([r.integers(0, 4, n), r.integers(0, 9, n), r.integers(0, 9, n)], axis=1)
    return Scene(background=background, gain=gain, noise_up=np.clip(noise, 0, 255).astype(np.uint8),
                 noise_down=np.clip(-noise, 0, 255).astype(np.uint8), pick=pick)
