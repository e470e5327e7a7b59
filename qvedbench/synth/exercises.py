"""The exercise classes: one parametric pose per class, the camera angle it is filmed from, the form errors
that apply to it, and its class-specific feedback wording.

A pose function maps ``(phase, body, error weights, lead side)`` to a :data:`~.skeleton.Pose`. ``phase`` is
already reduced when the clip has ``incomplete_rom``; the other errors arrive as weights in [0, 1]
(:func:`~.errors.error_weight`). ``lead`` (+1 or -1) picks the side that differs: the front leg of a lunge, the
standing leg of a single-leg deadlift, the lagging arm of an uneven press.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .skeleton import SIDES, Body, Pose, add_upper_body, bend, limb_direction, set_arm, set_leg, torso_direction, vec

PoseFn = Callable[[float, Body, Mapping[str, float], float], Pose]
ANKLE_HEIGHT = 0.03


def _standing_legs(pose: Pose, body: Body, half_stance: float, knee_out: float = 0.3) -> None:
    for side, sign in SIDES.items():
        ankle = vec(sign * half_stance, ANKLE_HEIGHT, 0.0)
        set_leg(pose, body, side, ankle, vec(sign * knee_out, 0, 1), vec(sign * 0.3, -0.5, 1))


def _standing_pelvis(body: Body, lower: float = 0.0) -> np.ndarray:
    return vec(0.0, ANKLE_HEIGHT + body.leg * 0.99 - lower, 0.0)


def squats(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    valgus, lean, shift = err.get("knee_valgus", 0.0), err.get("forward_lean", 0.0), err.get("poor_alignment", 0.0)
    pelvis = vec(lead * 0.07 * shift, ANKLE_HEIGHT + body.leg * (0.99 - 0.42 * p), -0.15 * p)
    pose = add_upper_body({}, body, pelvis, torso_direction(0.45 * p + 0.65 * lean, lead * 0.2 * shift))
    for side, sign in SIDES.items():
        ankle = vec(sign * 0.11, ANKLE_HEIGHT, 0.0)
        set_leg(pose, body, side, ankle, vec(sign * (0.3 - 1.3 * valgus), 0, 1), vec(sign * 0.3, -0.5, 1))
        arm = limb_direction(1.45 * p, 0.1, sign)  # arms rise forward as a counterweight
        set_arm(pose, body, side, arm, arm)
    return pose


def lunges(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    valgus, lean = err.get("knee_valgus", 0.0), err.get("forward_lean", 0.0)
    half_step = 0.24
    standing = np.sqrt(max(body.leg**2 - half_step**2, 0.0)) * 0.98
    pelvis = vec(0.0, ANKLE_HEIGHT + standing - 0.19 * p, 0.0)
    pose = add_upper_body({}, body, pelvis, torso_direction(0.08 + 0.6 * lean))
    for side, sign in SIDES.items():
        if sign == lead:  # front leg, foot flat
            ankle = vec(sign * 0.08, ANKLE_HEIGHT, half_step)
            set_leg(pose, body, side, ankle, vec(-sign * 2.2 * valgus, 0, 1))
        else:  # back leg, heel raised, knee dropping towards the floor
            ankle = vec(sign * 0.08, ANKLE_HEIGHT + 0.04, -half_step)
            set_leg(pose, body, side, ankle, vec(0, 0, 1), vec(0, -0.8, 1))
        # hands on hips
        pose[f"{side}_elbow"] = pose[f"{side}_shoulder"] + vec(sign * 0.12, -0.12, -0.05)
        pose[f"{side}_wrist"] = pose[f"{side}_hip"] + vec(sign * 0.04, 0.04, 0.0)
    return pose


def push_ups(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    sag = err.get("poor_alignment", 0.0)
    length = body.leg + body.torso
    feet_z, foot_y = -0.55, 0.05

    def body_line(phase: float) -> np.ndarray:
        shoulder_y = 0.02 + body.arm * 0.97 - (body.arm * 0.97 - 0.10) * phase
        angle = np.arcsin(np.clip((shoulder_y - foot_y) / length, -1, 1))
        return vec(0, np.sin(angle), np.cos(angle))

    line = body_line(p)
    ankle_mid = vec(0, foot_y, feet_z)
    neck = ankle_mid + line * length
    pelvis = ankle_mid + line * body.leg - vec(0, 0.08 * sag, 0)  # sagging hips drop below the line
    pose = add_upper_body({}, body, pelvis, (neck - pelvis) / np.linalg.norm(neck - pelvis))
    hands_z = feet_z + body_line(0.0)[2] * length
    for side, sign in SIDES.items():
        set_leg(pose, body, side, vec(sign * 0.07, foot_y, feet_z), vec(0, -1, 0), vec(0, -1, 0.3))
        wrist = vec(sign * body.shoulder_half_width * 1.2, 0.02, hands_z)
        shoulder = pose[f"{side}_shoulder"]
        pose[f"{side}_elbow"] = bend(shoulder, wrist, body.upper_arm, body.forearm, vec(sign * 0.3, 0.5, -1))
        pose[f"{side}_wrist"] = wrist
    return pose


def _arm_phases(p: float, err: Mapping[str, float], lead: float) -> dict[str, float]:
    """Per-arm phase; with poor alignment the ``lead`` arm lags behind (uneven arms)."""
    lag = err.get("poor_alignment", 0.0)
    return {side: p * (1 - 0.65 * lag) if sign == lead else p for side, sign in SIDES.items()}


def bicep_curls(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    pose = add_upper_body({}, body, _standing_pelvis(body), torso_direction(0.0))
    _standing_legs(pose, body, 0.09)
    for side, q in _arm_phases(p, err, lead).items():
        sign = SIDES[side]
        set_arm(pose, body, side, limb_direction(0.12, 0.12, sign), limb_direction(0.15 + 2.3 * q, 0.12, sign))
    return pose


def shoulder_press(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    pose = add_upper_body({}, body, _standing_pelvis(body), torso_direction(0.6 * err.get("forward_lean", 0.0)))
    _standing_legs(pose, body, 0.1)
    for side, q in _arm_phases(p, err, lead).items():
        sign = SIDES[side]
        upper = np.pi / 2 + 1.25 * q  # from elbows at shoulder height to arms overhead
        forearm = (np.pi - 0.05) * (1 - q) + upper * q
        set_arm(pose, body, side, limb_direction(0.1, upper, sign), limb_direction(0.05, forearm, sign))
    return pose


def jumping_jacks(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    valgus = err.get("knee_valgus", 0.0)
    half_stance = 0.08 + 0.17 * p
    reach = np.sqrt(max(body.leg**2 - (half_stance - body.hip_half_width) ** 2, 0.0))
    pelvis = vec(0.0, ANKLE_HEIGHT + reach * 0.99 - 0.08 * valgus, 0.0)
    pose = add_upper_body({}, body, pelvis, torso_direction(0.0))
    for side, sign in SIDES.items():
        ankle = vec(sign * half_stance, ANKLE_HEIGHT, 0.0)
        set_leg(pose, body, side, ankle, vec(sign * (0.25 - 1.6 * valgus), 0, 1), vec(sign * 0.4, -0.5, 1))
    for side, q in _arm_phases(p, err, lead).items():
        sign = SIDES[side]
        abduction = 0.12 + 2.75 * q
        set_arm(pose, body, side, limb_direction(0.0, abduction, sign), limb_direction(0.0, abduction + 0.15, sign))
    return pose


def single_leg_deadlift(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    dropped = err.get("poor_alignment", 0.0)
    hinge = 1.35 * p
    pelvis = vec(0.0, ANKLE_HEIGHT + body.leg * 0.97, -0.10 * p)
    pose = add_upper_body({}, body, pelvis, torso_direction(hinge))
    for side, sign in SIDES.items():
        if sign == lead:  # standing leg
            set_leg(pose, body, side, vec(sign * 0.05, ANKLE_HEIGHT, 0.0), vec(0, 0, 1))
        else:  # free leg swings back in line with the torso; with poor alignment it stays low and bent
            reach = body.leg * (0.99 - 0.2 * dropped)
            ankle = pose[f"{side}_hip"] + limb_direction(-hinge * (1 - 0.6 * dropped), 0.0, sign) * reach
            set_leg(pose, body, side, ankle, vec(0, -1, 0.2), vec(0, -1, -0.3))
        hang = vec(0, -1, 0.08)  # arms hang towards the floor
        set_arm(pose, body, side, hang, hang)
    return pose


def glute_bridge(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    valgus = err.get("knee_valgus", 0.0)
    # Lying on the back, head towards -z, feet planted near the hips; the hips rise off the floor.
    neck = vec(0.0, 0.06, -0.40)
    rise = 0.28 * p
    pelvis = vec(0.0, 0.07 + rise, -0.40 + body.torso * np.cos(np.arcsin(min(rise / body.torso, 1.0))))
    pose = add_upper_body({}, body, pelvis, (neck - pelvis) / np.linalg.norm(neck - pelvis))
    for side, sign in SIDES.items():
        ankle = vec(sign * 0.1, ANKLE_HEIGHT, pelvis[2] + 0.32)
        set_leg(pose, body, side, ankle, vec(sign * (0.3 - 1.8 * valgus), 1, 0.2), vec(0, -0.3, 1))
        arm = vec(sign * 0.1, -0.25, 1)  # arms flat on the floor beside the body
        set_arm(pose, body, side, arm, arm)
    return pose


def plank(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    sag = err.get("poor_alignment", 0.0)
    # A forearm plank held still; the 'repetition' is a slow rock forward and back over the elbows.
    length = body.leg + body.torso
    feet_z, foot_y, shoulder_y = -0.55, 0.05, 0.02 + body.upper_arm * 0.95
    angle = np.arcsin((shoulder_y - foot_y) / length)
    line = vec(0, np.sin(angle), np.cos(angle))
    ankle_mid = vec(0, foot_y, feet_z + 0.05 * p)
    neck = ankle_mid + line * length
    pelvis = ankle_mid + line * body.leg - vec(0, 0.09 * sag, 0)
    pose = add_upper_body({}, body, pelvis, (neck - pelvis) / np.linalg.norm(neck - pelvis))
    elbows_z = feet_z + line[2] * length
    for side, sign in SIDES.items():
        set_leg(pose, body, side, ankle_mid + vec(sign * 0.07, 0, 0), vec(0, -1, 0), vec(0, -1, 0.3))
        pose[f"{side}_elbow"] = vec(sign * body.shoulder_half_width, 0.02, elbows_z)
        pose[f"{side}_wrist"] = pose[f"{side}_elbow"] + vec(-sign * 0.03, 0, body.forearm)
    return pose


def lateral_raises(p: float, body: Body, err: Mapping[str, float], lead: float) -> Pose:
    pose = add_upper_body({}, body, _standing_pelvis(body), torso_direction(0.6 * err.get("forward_lean", 0.0)))
    _standing_legs(pose, body, 0.09)
    for side, q in _arm_phases(p, err, lead).items():
        sign = SIDES[side]
        abduction = 0.12 + 1.45 * q  # from the sides up to shoulder height
        set_arm(pose, body, side, limb_direction(0.1, abduction, sign), limb_direction(0.25, abduction + 0.1, sign))
    return pose


@dataclass(frozen=True)
class Exercise:
    name: str
    pose: PoseFn
    camera_yaw_deg: float  # 0 films the figure from the front, 90 from its left side
    errors: tuple[str, ...]  # error ids that apply
    rom_feedback: tuple[str, ...]  # wording for incomplete_rom
    alignment_feedback: tuple[str, ...] = ()  # wording for poor_alignment (its meaning is class-specific)
    holds_weights: bool = False  # draw a dumbbell in each hand


EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise(
        "squats", squats, 30, ("knee_valgus", "forward_lean", "incomplete_rom", "poor_alignment"),
        ("squat is too shallow; sit down until your thighs are parallel to the floor",
         "not going deep enough - lower your hips to at least knee height",
         "cutting the squat short; bend further at the hips and knees"),
        ("hips shift to one side; keep your weight even on both feet",
         "your hips drift sideways at the bottom - stay centred between your feet"),
    ),
    Exercise(
        "lunges", lunges, 55, ("knee_valgus", "forward_lean", "incomplete_rom"),
        ("lunge too shallow; lower until your back knee almost touches the floor",
         "not dropping low enough - bend both knees to about ninety degrees"),
    ),
    Exercise(
        "push-ups", push_ups, 90, ("incomplete_rom", "poor_alignment"),
        ("not lowering far enough; bring your chest close to the floor",
         "half reps - go down until your elbows reach ninety degrees"),
        ("hips sagging; squeeze your glutes and keep a straight line from head to heels",
         "your lower back dips - brace your core so your body stays in one line"),
    ),
    Exercise(
        "bicep curls", bicep_curls, 70, ("incomplete_rom", "poor_alignment"),
        ("curl stops short; bring the weight all the way up to your shoulders",
         "partial curls - finish each rep with your forearms fully bent"),
        ("arms moving unevenly; lift both sides together",
         "one arm lags behind the other - keep both arms in sync"),
        holds_weights=True,
    ),
    Exercise(
        "shoulder press", shoulder_press, 30, ("forward_lean", "incomplete_rom", "poor_alignment"),
        ("not pressing all the way up; extend your arms fully overhead",
         "the press stops halfway - lock out your elbows at the top"),
        ("uneven press; push both arms up at the same speed",
         "one arm trails the other - press both hands up together"),
        holds_weights=True,
    ),
    Exercise(
        "jumping jacks", jumping_jacks, 0, ("knee_valgus", "incomplete_rom", "poor_alignment"),
        ("arms and legs not opening fully; reach your hands overhead and jump your feet wide",
         "movements too small - bring your arms all the way up each time"),
        ("arms out of sync; raise both arms together",
         "one arm lags behind - move both sides symmetrically"),
    ),
    Exercise(
        "single-leg deadlift", single_leg_deadlift, 85, ("incomplete_rom", "poor_alignment"),
        ("not hinging far enough; lower your torso until it is nearly parallel to the floor",
         "hinge is too small - reach further down while the back leg rises"),
        ("back leg drops and bends; keep it straight and in line with your torso",
         "your free leg stays low - lift it so your body forms a straight line from head to heel"),
    ),
    Exercise(
        "glute bridge", glute_bridge, 60, ("knee_valgus", "incomplete_rom"),
        ("hips not rising high enough; lift until your body is straight from knees to shoulders",
         "bridge too low - squeeze your glutes and push your hips all the way up"),
    ),
    Exercise(
        "plank", plank, 90, ("poor_alignment",),
        (),
        ("hips sagging; tighten your core and keep your body in one straight line",
         "your lower back drops - lift your hips level with your shoulders"),
    ),
    Exercise(
        "lateral raises", lateral_raises, 15, ("forward_lean", "incomplete_rom", "poor_alignment"),
        ("arms stop short; raise them all the way to shoulder height",
         "partial raises - lift until your arms are level with your shoulders"),
        ("arms rising unevenly; lift both sides together",
         "one arm lags behind - raise both arms at the same speed"),
        holds_weights=True,
    ),
)}

# The classes the default synthetic dataset contains; the others in EXERCISES can be asked for by name.
DEFAULT_CLASSES: tuple[str, ...] = (
    "squats", "lunges", "push-ups", "bicep curls", "shoulder press", "jumping jacks", "single-leg deadlift",
)
