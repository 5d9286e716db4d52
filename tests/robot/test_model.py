"""The humanoid MJCF and its reader: names, limits, gains, contacts, kinematics (MuJoCo C, no stepping)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from ampbench import cards
from ampbench.robot import quat
from ampbench.robot.model import (
    CONTACT_POINT_GROUP,
    CONTACT_SETS,
    build_mj_model,
    forward_kinematics,
    humanoid_spec,
    model_path,
)

REFERENCE_XML = Path(__file__).resolve().parents[3] / "shared" / "mocap" / "isaacgymenvs" / "amp_humanoid.xml"

CLIP_BODIES = (
    "pelvis", "torso", "head", "right_upper_arm", "right_lower_arm", "right_hand", "left_upper_arm",
    "left_lower_arm", "left_hand", "right_thigh", "right_shin", "right_foot", "left_thigh", "left_shin",
    "left_foot",
)  # fmt: skip
CLIP_DOFS = tuple(
    f"{joint}_{axis}" if axis else joint
    for joint, axes in (
        ("abdomen", "xyz"), ("neck", "xyz"), ("right_shoulder", "xyz"), ("right_elbow", ""),
        ("left_shoulder", "xyz"), ("left_elbow", ""), ("right_hip", "xyz"), ("right_knee", ""),
        ("right_ankle", "xyz"), ("left_hip", "xyz"), ("left_knee", ""), ("left_ankle", "xyz"),
    )
    for axis in (axes or [""])
)  # fmt: skip

# Segment offsets along the leg (hip -> knee -> ankle) and the foot box's bottom below the ankle.
THIGH_LENGTH = 0.421546
SHIN_LENGTH = 0.409870
FOOT_BOTTOM_BELOW_ANKLE = 0.0225 + 0.0275
HIP_HALF_WIDTH = 0.084887


@pytest.fixture(scope="module")
def spec():
    return humanoid_spec()


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE_XML.is_file():
        pytest.skip(f"reference MJCF not found at {REFERENCE_XML} (the shared mocap folder is absent)")
    root = ET.parse(REFERENCE_XML).getroot()
    gears = {m.get("joint"): float(m.get("gear")) for m in root.iter("motor") if m.get("joint")}
    joints = {j.get("name"): j for j in root.iter("joint") if j.get("name") in gears}
    return gears, joints


def _model(action_mode: str = "pd", **simulator) -> mujoco.MjModel:
    return build_mj_model(cards.SimulatorConfig(**simulator), cards.HumanoidConfig(action_mode=action_mode))


def test_model_path_points_at_the_checkout_file():
    assert model_path() == Path(__file__).resolve().parents[2] / "mjcf" / "amp_humanoid.xml"
    with pytest.raises(FileNotFoundError, match="no_such_robot"):
        model_path("no_such_robot")


def test_names_are_the_clip_names_in_mjcf_order(spec):
    assert spec.dof_names == CLIP_DOFS
    assert spec.body_names == CLIP_BODIES
    model = _model()
    assert (model.nq, model.nv, model.nu, model.nbody) == (7 + 28, 6 + 28, 28, 1 + 15)


def test_spec_is_cached_and_read_only(spec):
    assert humanoid_spec() is spec
    with pytest.raises(ValueError):
        spec.effort_limits[0] = 1.0


def test_index_lookups_name_unknown_names(spec):
    assert spec.body_index(["pelvis", "left_foot"]).tolist() == [0, 14]
    with pytest.raises(ValueError, match="left_wrist"):
        spec.body_index(["left_wrist"])


def test_effort_limits_are_the_reference_gears(spec, reference):
    gears, _ = reference
    assert np.all(spec.effort_limits > 0)
    np.testing.assert_array_equal(spec.effort_limits, [gears[name] for name in spec.dof_names])


def test_motors_are_gear_one_and_clamp_at_the_effort_limit(spec):
    model = _model("torque")
    np.testing.assert_array_equal(model.actuator_gear[:, 0], 1.0)
    joints = [model.joint(model.actuator_trnid[i, 0]).name for i in range(model.nu)]
    limits = spec.effort_limits[[spec.dof_names.index(joint) for joint in joints]]
    np.testing.assert_array_equal(model.actuator_ctrlrange, np.stack([-limits, limits], axis=1))
    np.testing.assert_array_equal(model.actuator_forcerange, np.stack([-limits, limits], axis=1))


def test_pd_mode_makes_position_servos_with_the_model_gains(spec):
    """force = kp (ctrl - q) - kv q̇, clamped at the effort limit, ctrl within the joint range."""
    model = _model("pd")
    np.testing.assert_array_equal(model.actuator_ctrlrange, spec.joint_ranges)
    limits = spec.effort_limits
    np.testing.assert_array_equal(model.actuator_forcerange, np.stack([-limits, limits], axis=1))
    data = mujoco.MjData(model)
    data.qpos[7:] = 0.01
    data.qvel[6:] = 0.2
    for ctrl in (0.03, 2.0):  # 2 rad is beyond every range: the target clamps to the range
        data.ctrl[:] = ctrl
        mujoco.mj_forward(model, data)
        target = np.clip(ctrl, spec.joint_ranges[:, 0], spec.joint_ranges[:, 1])
        expected = np.clip(spec.pd_stiffness * (target - 0.01) - spec.pd_damping * 0.2, -limits, limits)
        np.testing.assert_allclose(data.actuator_force, expected, rtol=1e-9, atol=1e-9)
    assert np.any(np.abs(data.actuator_force) == limits)  # and the force to the effort limit


def test_pd_gains_and_ranges_are_the_reference_values(spec, reference):
    _, joints = reference
    np.testing.assert_array_equal(
        spec.pd_stiffness, [float(joints[n].get("stiffness")) for n in spec.dof_names]
    )
    np.testing.assert_array_equal(spec.pd_damping, [float(joints[n].get("damping")) for n in spec.dof_names])
    ranges_deg = [[float(v) for v in joints[n].get("range").split()] for n in spec.dof_names]
    np.testing.assert_allclose(spec.joint_ranges, np.radians(ranges_deg))


def test_no_passive_springs_only_small_damping():
    model = _model()
    assert np.all(model.jnt_stiffness == 0)
    assert np.all(model.dof_damping[6:] <= 0.1)
    assert np.all(model.dof_armature[6:] > 0)


def test_total_mass_is_the_sum_of_the_bodies(spec):
    assert spec.total_mass == pytest.approx(float(_model().body_mass.sum()))
    assert 40.0 < spec.total_mass < 60.0


def test_build_applies_the_card_solver_options():
    model = _model(timestep=0.002, solver="cg", iterations=7, ls_iterations=3, cone="elliptic")
    assert model.opt.timestep == 0.002
    assert model.opt.solver == mujoco.mjtSolver.mjSOL_CG
    assert (model.opt.iterations, model.opt.ls_iterations) == (7, 3)
    assert model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC


def test_file_defaults_match_the_card_defaults():
    default = mujoco.MjModel.from_xml_path(str(model_path()))
    built = _model()
    for field in ("timestep", "solver", "iterations", "ls_iterations", "cone"):
        assert getattr(default.opt, field) == getattr(built.opt, field), field


def _candidate_pairs(model: mujoco.MjModel) -> set[tuple[str, str]]:
    """Geom pairs MuJoCo may test: other weld body, not parent/child, contype/conaffinity bits meet."""
    pairs = set()
    for a, b in itertools.combinations(range(model.ngeom), 2):
        body_a, body_b = model.body_weldid[model.geom_bodyid[a]], model.body_weldid[model.geom_bodyid[b]]
        parent_a, parent_b = model.body_parentid[body_a], model.body_parentid[body_b]
        related = body_a != 0 and body_b != 0 and (parent_a == body_b or parent_b == body_a)
        bits = (model.geom_contype[a] & model.geom_conaffinity[b]) | (
            model.geom_contype[b] & model.geom_conaffinity[a]
        )
        if body_a != body_b and not related and bits:
            pairs.add((model.geom(a).name, model.geom(b).name))
    return pairs


def _body_geoms(model: mujoco.MjModel, bodies=None) -> set[str]:
    """Segment geoms (the massless contact points left out) of `bodies`, or of every body."""
    return {
        model.geom(g).name
        for g in range(model.ngeom)
        if model.geom_bodyid[g] != 0
        and model.geom_group[g] != CONTACT_POINT_GROUP
        and (bodies is None or model.body(model.geom_bodyid[g]).name in bodies)
    }


def test_sparse_contacts_are_spheres_at_the_extremities_and_the_foot_boxes():
    model = _model(contacts="sparse")
    touching = {name for _, name in _candidate_pairs(model)}
    assert _candidate_pairs(model) == {("floor", name) for name in touching}
    assert touching == set(CONTACT_SETS["sparse"])
    points = [name for name in touching if name.endswith("_contact")]
    joints = ("shoulder", "elbow", "hip", "knee")
    assert sorted(points) == sorted(
        f"{side}_{joint}_contact" for side in ("left", "right") for joint in joints
    )
    for name in points:
        assert model.geom_group[model.geom(name).id] == CONTACT_POINT_GROUP
    assert model.body_mass.sum() == pytest.approx(humanoid_spec().total_mass)  # contact points carry no mass


def test_floor_contacts_pair_every_body_geom_with_the_floor_only():
    model = _model(contacts="floor")
    assert _candidate_pairs(model) == {("floor", name) for name in _body_geoms(model)}
    assert len(_body_geoms(model)) == 18


def test_feet_contacts_pair_only_the_feet_with_the_floor():
    model = _model(contacts="feet")
    assert _candidate_pairs(model) == {("floor", "right_foot"), ("floor", "left_foot")}


def test_listed_contacts_pair_exactly_those_geoms_with_the_floor():
    model = _model(contacts=("right_hand", "left_knee_contact"))
    assert _candidate_pairs(model) == {("floor", "right_hand"), ("floor", "left_knee_contact")}


def test_all_contacts_add_self_pairs():
    model = _model(contacts="all")
    pairs = _candidate_pairs(model)
    floor_pairs = {pair for pair in pairs if "floor" in pair}
    assert floor_pairs == {("floor", name) for name in _body_geoms(model)}
    self_pairs = pairs - floor_pairs
    assert ("right_hand", "left_hand") in self_pairs and ("right_shin", "left_shin") in self_pairs
    assert ("right_thigh", "right_shin") not in self_pairs  # parent and child never collide
    assert len(pairs) == 138  # the AMP humanoid with every body pair colliding


@pytest.mark.parametrize("contacts", ["hands", ("right_hand", "tail")])
def test_unknown_contact_sets_and_geoms_are_refused(contacts):
    unchecked = cards.SimulatorConfig.model_construct(contacts=contacts)  # skips the card's own validation
    with pytest.raises(ValueError, match="hands" if contacts == "hands" else "unknown geoms \\['tail'\\]"):
        build_mj_model(unchecked, cards.HumanoidConfig())


def test_disable_flags_reach_the_model():
    model = build_mj_model(cards.SimulatorConfig(disable=("eulerdamp", "warmstart")), cards.HumanoidConfig())
    autoreset = mujoco.mjtDisableBit.mjDSBL_AUTORESET  # always off: a blow-up must stay visible
    want = mujoco.mjtDisableBit.mjDSBL_EULERDAMP | mujoco.mjtDisableBit.mjDSBL_WARMSTART | autoreset
    assert model.opt.disableflags == want
    assert _model().opt.disableflags == autoreset


def test_weld_adds_one_equality_without_changing_the_layout():
    plain = _model()
    welded = build_mj_model(cards.SimulatorConfig(), cards.HumanoidConfig(), weld_root=True)
    assert (plain.neq, welded.neq) == (0, 1)
    assert welded.eq_type[0] == mujoco.mjtEq.mjEQ_WELD
    assert welded.body(welded.eq_obj1id[0]).name == "pelvis" and welded.eq_obj2id[0] == 0
    assert (welded.nq, welded.nv) == (plain.nq, plain.nv)


def test_zero_pose_feet_hang_one_leg_length_below_the_pelvis(spec):
    model = _model()
    pelvis_z = 1.3
    positions, rotations = forward_kinematics(
        model, [[0.2, -0.1, pelvis_z]], [[1.0, 0, 0, 0]], np.zeros((1, 28))
    )
    feet = spec.body_index(["right_foot", "left_foot"])
    np.testing.assert_allclose(positions[0, feet, 2], pelvis_z - THIGH_LENGTH - SHIN_LENGTH, atol=1e-9)
    np.testing.assert_allclose(
        positions[0, feet, 1], [-0.1 - HIP_HALF_WIDTH, -0.1 + HIP_HALF_WIDTH], atol=1e-9
    )
    foot_geom = model.geom("right_foot")
    bottom = positions[0, feet[0], 2] + foot_geom.pos[2] - foot_geom.size[2]
    assert bottom == pytest.approx(
        pelvis_z - (THIGH_LENGTH + SHIN_LENGTH + FOOT_BOTTOM_BELOW_ANKLE), abs=1e-9
    )
    np.testing.assert_allclose(rotations[0], np.tile([1.0, 0, 0, 0], (15, 1)), atol=1e-12)


def _random_frames(spec, rng: np.random.Generator, frames: int):
    roots = rng.normal(size=(frames, 3))
    rotations = quat.normalize(rng.normal(size=(frames, 4)))
    dofs = rng.uniform(spec.joint_ranges[:, 0], spec.joint_ranges[:, 1], size=(frames, 28))
    return roots, rotations, dofs


def test_forward_kinematics_matches_mujoco_forward(spec):
    model = _model()
    roots, rotations, dofs = _random_frames(spec, np.random.default_rng(0), 3)
    positions, body_rotations = forward_kinematics(model, roots, rotations, dofs)
    data = mujoco.MjData(model)
    for frame in range(3):
        data.qpos[:] = np.concatenate([roots[frame], rotations[frame], dofs[frame]])
        mujoco.mj_forward(model, data)
        np.testing.assert_allclose(positions[frame], data.xpos[1:], atol=1e-12)
        np.testing.assert_allclose(body_rotations[frame], data.xquat[1:], atol=1e-12)


def test_three_hinges_compose_as_intrinsic_xyz(spec):
    model = _model()
    roots, rotations, dofs = _random_frames(spec, np.random.default_rng(1), 4)
    _, body_rotations = forward_kinematics(model, roots, rotations, dofs)
    abdomen = dofs[:, [spec.dof_names.index(f"abdomen_{axis}") for axis in "xyz"]]
    expected = quat.multiply(rotations, quat.from_intrinsic_xyz(abdomen))
    torso = body_rotations[:, spec.body_index(["torso"])[0]]
    np.testing.assert_allclose(np.abs(np.sum(torso * expected, axis=-1)), 1.0, atol=1e-9)


@pytest.mark.parametrize(
    ("roots", "rotations", "dofs", "key"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 27)), "dof_positions"),
        (np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((2, 28)), "root_rotations"),
        (np.zeros(3), np.zeros((1, 4)), np.zeros((1, 28)), "root_positions"),
    ],
)
def test_forward_kinematics_names_the_bad_input(roots, rotations, dofs, key):
    with pytest.raises(ValueError, match=key):
        forward_kinematics(_model(), roots, rotations, dofs)
