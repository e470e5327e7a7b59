"""Drawing a clip: the random look of a clip (:class:`ClipStyle`), the poses over time, and OpenCV rendering.

The figure is posed in 3D, projected orthographically by a camera turned ``yaw`` degrees around the vertical
axis, and drawn as thick anti-aliased lines with a disc for the head. Limbs on the far side are drawn first
and paler. The camera framing is fixed per clip and computed from the error-free motion, so a clip with an
error differs from its error-free twin only where the error shows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .errors import error_weight, rep_phase, reduced_range
from .exercises import EXERCISES
from .skeleton import BONES, SIDES, Body, Pose

_SUBPIXEL_BITS = 4  # OpenCV 'shift': coordinates carry 4 fractional bits
_FAR_SIDE_FADE = 0.4
_DUMBBELL_RADIUS = 0.045  # body units


@dataclass(frozen=True)
class ClipStyle:
    """Everything random about a clip except its errors."""

    period_s: float  # duration of one repetition
    phase_offset: float  # radians into the first repetition at frame 0
    lead: float  # +1 or -1: which side differs (front leg, lagging arm ...)
    body: Body
    yaw_deg: float
    fill: float  # fraction of the frame the figure's motion spans
    shift: tuple[float, float]  # where the figure sits in the free space, each in [-1, 1]
    background: tuple[int, int, int]
    gradient: float  # brightness change from top to bottom of the background
    figure: tuple[int, int, int]
    thickness: float  # limb thickness in body units

    @classmethod
    def sample(cls, rng: np.random.Generator, class_name: str, seconds: float, fps: float) -> "ClipStyle":
        exercise = EXERCISES[class_name]
        longest = max(seconds - 1.0 / fps, 0.2)  # at least one whole repetition lies inside the clip
        background = int(rng.integers(140, 236))
        figure = int(rng.integers(10, 70))
        return cls(
            period_s=float(min(rng.uniform(0.9, 1.5), longest)),
            phase_offset=float(rng.uniform(0, 2 * np.pi)),
            lead=float(rng.choice([-1.0, 1.0])),
            body=Body.random(rng),
            yaw_deg=float(rng.choice([-1.0, 1.0]) * (exercise.camera_yaw_deg + rng.uniform(-8, 8))),
            fill=float(rng.uniform(0.68, 0.84)),
            shift=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))),
            background=tuple(int(np.clip(background + rng.integers(-12, 13), 0, 255)) for _ in range(3)),
            gradient=float(rng.uniform(-25, 25)),
            figure=tuple(int(np.clip(figure + rng.integers(-15, 16), 0, 255)) for _ in range(3)),
            thickness=float(rng.uniform(0.035, 0.05)),
        )


def clip_phases(style: ClipStyle, num_frames: int, fps: float) -> np.ndarray:
    """Repetition phase of every frame."""
    return rep_phase(np.arange(num_frames) / fps, style.period_s, style.phase_offset)


def clip_poses(class_name: str, style: ClipStyle, errors: Sequence[str], phases: np.ndarray) -> list[Pose]:
    """The 3D pose of every frame, with ``errors`` applied."""
    exercise = EXERCISES[class_name]
    poses = []
    for p in phases:
        weight = float(error_weight(p))
        reached = float(reduced_range(p)) if "incomplete_rom" in errors else float(p)
        weights = {e: weight for e in errors if e != "incomplete_rom"}
        poses.append(exercise.pose(reached, style.body, weights, style.lead))
    return poses


class _Camera:
    """Orthographic projection: image x to the right, y down, plus depth towards the camera."""

    def __init__(self, yaw_deg: float):
        yaw = np.deg2rad(yaw_deg)
        self.right = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])
        self.towards = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
        self.scale, self.origin = 1.0, np.zeros(2)

    def plane(self, point: np.ndarray) -> np.ndarray:
        return np.array([point @ self.right, point[1]])

    def pixel(self, point: np.ndarray) -> np.ndarray:
        u, v = self.plane(point)
        return np.array([self.origin[0] + self.scale * u, self.origin[1] - self.scale * v])

    def frame(self, poses: list[Pose], style: ClipStyle, size: int) -> None:
        """Choose scale and origin so every pose in ``poses`` fits the frame as ``style`` asks."""
        pts = np.array([self.plane(p) for pose in poses for p in pose.values()])
        margin = style.body.head_radius + style.thickness
        low, high = pts.min(axis=0) - margin, pts.max(axis=0) + margin
        extent = high - low
        self.scale = style.fill * size / float(extent.max())
        free = size - self.scale * extent  # pixels left over on each axis
        centre = (low + high) / 2
        target = size / 2 + np.array(style.shift) * free / 2
        self.origin = np.array([target[0] - self.scale * centre[0], target[1] + self.scale * centre[1]])


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return tuple(int(round(c * (1 << _SUBPIXEL_BITS))) for c in point)


def _background(style: ClipStyle, size: int) -> np.ndarray:
    ramp = np.linspace(-0.5, 0.5, size)[:, None, None] * style.gradient
    img = np.clip(np.array(style.background, dtype=float)[None, None, :] + ramp, 0, 255)
    return np.broadcast_to(img, (size, size, 3)).astype(np.uint8)


def _farness(part: tuple[str, str | None], camera: _Camera) -> float:
    """How far from the camera a part's side of the body is: 0 for the torso, head, shoulder and hip lines
    and for both sides in a front view; 1 for far-side limbs once the camera has turned 30 degrees or more."""
    sides = {SIDES.get(joint.split("_")[0]) for joint in part if joint is not None and "_" in joint}
    if len(sides) != 1 or None in sides:
        return 0.0
    return float(np.clip(-sides.pop() * camera.towards[0] * 2, 0.0, 1.0))


def draw_pose(img: np.ndarray, pose: Pose, camera: _Camera, style: ClipStyle, weights: bool = False) -> None:
    """Draw one pose onto ``img`` in place: far parts first and paler, near parts last. ``weights`` adds a
    dumbbell (a disc) in each hand."""
    colour = np.array(style.figure, dtype=float)
    paper = np.array(style.background, dtype=float)
    limb_px = max(1, int(round(style.thickness * camera.scale)))
    discs = {"head": style.body.head_radius}
    if weights:
        discs.update(l_wrist=_DUMBBELL_RADIUS, r_wrist=_DUMBBELL_RADIUS)
    parts = [(a, b) for a, b in BONES] + [(joint, None) for joint in discs]

    def depth(part) -> float:
        a, b = part
        return float(pose[a] @ camera.towards) if b is None else float((pose[a] + pose[b]) @ camera.towards) / 2

    for part in sorted(parts, key=depth):
        fade = _FAR_SIDE_FADE * _farness(part, camera)
        shade = tuple(float(c) for c in (1 - fade) * colour + fade * paper)
        a, b = part
        if b is None:
            radius = int(round(discs[a] * camera.scale * (1 << _SUBPIXEL_BITS)))
            cv2.circle(img, _fixed(camera.pixel(pose[a])), radius, shade, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
        else:
            width = int(round(limb_px * 1.4)) if (a, b) == ("pelvis", "neck") else limb_px
            cv2.line(img, _fixed(camera.pixel(pose[a])), _fixed(camera.pixel(pose[b])), shade, width,
                     cv2.LINE_AA, _SUBPIXEL_BITS)


def render_clip(class_name: str, style: ClipStyle, errors: Sequence[str], size: int,
                num_frames: int, fps: float) -> np.ndarray:
    """Render a clip as uint8 RGB frames ``(num_frames, size, size, 3)``."""
    phases = clip_phases(style, num_frames, fps)
    camera = _Camera(style.yaw_deg)
    camera.frame(clip_poses(class_name, style, (), phases), style, size)
    scene = _background(style, size).copy()
    floor_y = int(round(camera.pixel(np.zeros(3))[1]))
    if 0 <= floor_y < size:
        floor_colour = tuple(max(0, c - 30) for c in style.background)
        scene[floor_y:] = (scene[floor_y:] * 0.85 + np.array(floor_colour) * 0.15).astype(np.uint8)
        cv2.line(scene, (0, floor_y), (size - 1, floor_y), floor_colour, 1, cv2.LINE_AA)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for i, pose in enumerate(clip_poses(class_name, style, errors, phases)):
        img = scene.copy()
        draw_pose(img, pose, camera, style, EXERCISES[class_name].holds_weights)
        frames[i] = img
    return frames
