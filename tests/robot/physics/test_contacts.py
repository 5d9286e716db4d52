"""The default contact set (`simulator.contacts: sparse`) against the physics it must still get right:
a limp fall lands on contact spheres that the fall rule and the card's termination both see, no geom
sinks into the floor (colliding or not), and a get-up clip's lying start rests on the floor (MuJoCo C)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from ampbench import cards
from ampbench.robot.model import FREE_QPOS, build_mj_model, humanoid_spec
from ampbench.scoring.falls import FALL_RULE
from ampbench.task.humanoid import HumanoidTask, lowest_points
from tests.clipfactory import deepmimic_clip

# Deepest any geom went below the floor: limp falls measured 3.0 cm (the upper waist, a segment that does
# not collide, lying on the side) with `sparse`, 2.7 cm with every segment colliding (`floor`).
SINK_LIMIT = 0.035
REST_LIMIT = 0.02  # a lying start settles into the soft contacts by well under 1 cm


def lowest(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """Lowest point of every body geom (m): the same geometry the card's termination reads."""
    zrows = data.geom_xmat.reshape(-1, 3, 3)[:, 2, :]
    points = lowest_points(
        data.geom_xpos[:, 2],
        zrows,
        model.geom_size,
        model.geom_type == mujoco.mjtGeom.mjGEOM_BOX,
        model.geom_type == mujoco.mjtGeom.mjGEOM_CAPSULE,
    )
    return points[model.geom_bodyid != 0]


def _body_positions(data: mujoco.MjData) -> np.ndarray:
    return data.xpos[None, None, 1:]


def touching(model: mujoco.MjModel, data: mujoco.MjData) -> set[str]:
    """Bodies with a geom in contact with the floor."""
    floor = model.geom("floor").id
    others = [c.geom2 if c.geom1 == floor else c.geom1 for c in data.contact[: data.ncon]]
    return {model.body(model.geom_bodyid[geom]).name for geom in others}


# (direction, tilt axis, tilt in degrees, bodies the fall must land on); tests/sim/test_isaaclab.py too
LIMP_FALLS = [
    ("forward", (0, 1, 0), 40, {"head", "right_hand", "left_hand"}),
    ("backward", (0, 1, 0), -40, {"head", "torso"}),
    ("left", (1, 0, 0), -40, {"left_upper_arm", "left_thigh"}),
]


def tilted_start(model: mujoco.MjModel, axis, degrees: float) -> np.ndarray:
    """qpos of the reference pose, pelvis 0.92 m high, tilted by `degrees` about `axis`."""
    qpos = model.qpos0.copy()
    qpos[2] = 0.92
    half = np.radians(degrees) / 2
    qpos[3:7] = np.r_[np.cos(half), np.sin(half) * np.asarray(axis)]
    return qpos


@pytest.mark.parametrize(("direction", "axis", "degrees", "lands_on"), LIMP_FALLS)
def test_a_limp_fall_lands_on_contact_points_and_counts_as_a_fall(
    card, library, direction, axis, degrees, lands_on
):
    assert card.simulator.contacts == "sparse"
    model = build_mj_model(card.simulator, card.humanoid.model_copy(update={"action_mode": "torque"}))
    task = HumanoidTask(card, library, model)
    data = mujoco.MjData(model)
    data.qpos[:] = tilted_start(model, axis, degrees)
    spec = humanoid_spec()
    touched, deepest, terminated = set(), 0.0, False
    for _ in range(round(3.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
        mujoco.mj_kinematics(model, data)
        touched |= touching(model, data)
        deepest = min(deepest, float(lowest(model, data).min()))
        geoms = task.termination_geoms
        zrows = data.geom_xmat.reshape(-1, 3, 3)[geoms, 2, :]
        terminated |= bool(task.fallen(data.qpos[2], data.geom_xpos[geoms, 2], zrows))
    assert lands_on <= touched, f"{direction}: touched {sorted(touched)}"
    assert deepest > -SINK_LIMIT, f"{direction}: a geom went {-deepest:.3f} m into the floor"
    assert terminated
    assert FALL_RULE.down(_body_positions(data), spec.body_names, np.ones((1, 1), bool))[0, 0]


def first_frame(model: mujoco.MjModel, clip) -> np.ndarray:
    """qpos of the clip's first frame."""
    qpos = model.qpos0.copy()
    pelvis = clip.body_names.index("pelvis")
    qpos[:3] = clip.body_positions[0, pelvis]
    qpos[3:FREE_QPOS] = clip.body_rotations[0, pelvis]
    dofs = [humanoid_spec().dof_names.index(name) for name in clip.dof_names]
    qpos[FREE_QPOS + np.array(dofs)] = clip.dof_positions[0]
    return qpos


def lie_still(
    simulator: cards.SimulatorConfig, humanoid: cards.HumanoidConfig, clip
) -> tuple[np.ndarray, float]:
    """Start from the clip's first frame, PD targets holding its pose, for 1 s: (body origins at the end,
    the deepest any geom went below the floor)."""
    model = build_mj_model(simulator, humanoid)
    spec = humanoid_spec()
    data = mujoco.MjData(model)
    data.qpos[:] = first_frame(model, clip)
    data.ctrl[:] = np.clip(data.qpos[FREE_QPOS:], *spec.joint_ranges.T)
    deepest = 0.0
    for _ in range(round(1.0 / model.opt.timestep)):
        mujoco.mj_step(model, data)
        mujoco.mj_kinematics(model, data)
        deepest = min(deepest, float(lowest(model, data).min()))
    return data.xpos[1:].copy(), deepest


@pytest.mark.parametrize("clip_name", ["getup_faceup", "getup_facedown"])
def test_a_get_up_clips_lying_start_rests_on_the_floor_as_with_every_segment_colliding(card, clip_name):
    """The clip's first frame is not at rest (the pelvis settles 5-6 cm with either set); the sparse set
    must let it settle where colliding segments do (measured: pelvis within 2 mm, head within 2 cm)."""
    clip = deepmimic_clip(clip_name)
    sparse, deepest = lie_still(card.simulator, card.humanoid, clip)
    segments, _ = lie_still(card.simulator.model_copy(update={"contacts": "floor"}), card.humanoid, clip)
    assert deepest > -REST_LIMIT, f"{clip_name}: a geom sank {-deepest:.3f} m into the floor"
    heights = np.abs(sparse[:, 2] - segments[:, 2])
    assert heights[0] < 0.01 and heights.max() < 0.03, (
        f"{clip_name}: body heights differ by {heights.round(3)}"
    )
