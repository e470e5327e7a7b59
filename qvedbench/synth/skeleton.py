"""The 3D stick-figure body: proportions, joints, bones, and the geometry helpers poses are built from.

Coordinates are body units (a standing figure is about 1.0 tall), right-handed: ``x`` the figure's left,
``y`` up, ``z`` the direction the figure faces. The floor is ``y = 0``. A pose is a dict joint name -> (3,)
array; "side" +1 is the figure's left limb, -1 its right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Pose = dict[str, np.ndarray]

# Bones drawn as lines, (from, to). The head is drawn as a disc around the "head" joint.
BONES: tuple[tuple[str, str], ...] = (
    ("pelvis", "neck"), ("neck", "head"),
    ("l_shoulder", "r_shoulder"), ("l_hip", "r_hip"),
    *((f"{s}_shoulder", f"{s}_elbow") for s in "lr"), *((f"{s}_elbow", f"{s}_wrist") for s in "lr"),
    *((f"{s}_hip", f"{s}_knee") for s in "lr"), *((f"{s}_knee", f"{s}_ankle") for s in "lr"),
    *((f"{s}_ankle", f"{s}_toe") for s in "lr"),
)
SIDES = {"l": 1.0, "r": -1.0}


@dataclass(frozen=True)
class Body:
    """Segment lengths in body units."""

    thigh: float = 0.25
    shank: float = 0.24
    torso: float = 0.30  # pelvis to neck
    neck: float = 0.05
    head_radius: float = 0.065
    upper_arm: float = 0.16
    forearm: float = 0.15
    shoulder_half_width: float = 0.10
    hip_half_width: float = 0.06
    foot: float = 0.06

    @property
    def leg(self) -> float:
        return self.thigh + self.shank

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    @classmethod
    def random(cls, rng: np.random.Generator, spread: float = 0.06) -> "Body":
        """Proportions scaled by independent factors in ``1 +- spread`` (small individual differences)."""
        base = cls()
        return cls(**{name: value * float(rng.uniform(1 - spread, 1 + spread)) for name, value in vars(base).items()})


def vec(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, y, z], dtype=float)


def unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def limb_direction(flexion: float, abduction: float, side: float) -> np.ndarray:
    """Unit vector of a limb hanging straight down, swung ``flexion`` rad forward (towards +z) and
    ``abduction`` rad out to ``side``. (0, 0) points down; flexion pi/2 points forward; abduction pi up."""
    return unit(vec(side * np.sin(abduction) * np.cos(flexion), -np.cos(abduction) * np.cos(flexion), np.sin(flexion)))


def torso_direction(forward_tilt: float, side_tilt: float = 0.0) -> np.ndarray:
    """Unit vector from pelvis to neck, tilted ``forward_tilt`` rad towards +z and ``side_tilt`` towards +x."""
    return unit(vec(np.sin(side_tilt), np.cos(forward_tilt) * np.cos(side_tilt), np.sin(forward_tilt)))


def bend(root: np.ndarray, end: np.ndarray, first: float, second: float, towards: np.ndarray) -> np.ndarray:
    """Middle joint (knee, elbow) of a two-segment limb from ``root`` to ``end``, bent towards ``towards``.

    Two-link inverse kinematics; if ``end`` is out of reach the limb is straight along the line.
    """
    axis = end - root
    dist = float(np.linalg.norm(axis))
    u = unit(axis)
    if dist >= first + second or dist < 1e-9:
        return root + u * first
    along = (first**2 - second**2 + dist**2) / (2 * dist)
    height = np.sqrt(max(first**2 - along**2, 0.0))
    ortho = towards - np.dot(towards, u) * u
    return root + u * along + unit(ortho) * height


def add_upper_body(pose: Pose, body: Body, pelvis: np.ndarray, torso_dir: np.ndarray) -> Pose:
    """Neck, head, shoulders and hips around ``pelvis`` for a torso pointing along ``torso_dir``."""
    # +x for an upright torso; follows a sideways tilt so shoulders and hips stay square to the spine.
    cross = np.cross(torso_dir, vec(0, 0, 1))
    lateral = unit(cross) if np.linalg.norm(cross) > 1e-6 else vec(1, 0, 0)
    neck = pelvis + torso_dir * body.torso
    pose.update(
        pelvis=pelvis,
        neck=neck,
        head=neck + torso_dir * (body.neck + body.head_radius),
        l_shoulder=neck + lateral * body.shoulder_half_width,
        r_shoulder=neck - lateral * body.shoulder_half_width,
        l_hip=pelvis + lateral * body.hip_half_width,
        r_hip=pelvis - lateral * body.hip_half_width,
    )
    return pose


def set_arm(pose: Pose, body: Body, side: str, upper: np.ndarray, lower: np.ndarray) -> None:
    """Place elbow and wrist of arm ``side`` from unit directions of the upper arm and forearm."""
    elbow = pose[f"{side}_shoulder"] + unit(upper) * body.upper_arm
    pose[f"{side}_elbow"] = elbow
    pose[f"{side}_wrist"] = elbow + unit(lower) * body.forearm


def set_leg(pose: Pose, body: Body, side: str, ankle: np.ndarray, knee_towards: np.ndarray,
            toe_direction: np.ndarray | None = None) -> None:
    """Place knee (bent towards ``knee_towards``), ankle and toe of leg ``side`` reaching ``ankle``."""
    hip = pose[f"{side}_hip"]
    pose[f"{side}_knee"] = bend(hip, ankle, body.thigh, body.shank, knee_towards)
    pose[f"{side}_ankle"] = ankle
    pose[f"{side}_toe"] = ankle + unit(toe_direction if toe_direction is not None else vec(0, 0, 1)) * body.foot
