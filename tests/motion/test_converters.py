"""Converters from DeepMimic, poselib and Isaac Lab clips land every body where the source puts it.

Synthetic sources check the conventions (frame change, knee sign, resampling, exponential maps, hinge
branches past 90 degrees); the reference clips in shared/mocap (skipped when absent) are checked
against forward kinematics written here from the sources' own skeletons, for foot heights, loop
flags and travel direction; Isaac Lab's clips (skipped when the wheel cannot be downloaded) must
match their own body positions to < 1 mm after conversion, which fails if the exponential maps are
read as hinge angles.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import mujoco
import numpy as np
import pytest

from ampbench.motion import fetch
from ampbench.motion.clip import ClipError
from ampbench.motion.clip_files import load_clip
from ampbench.motion.convert.deepmimic import (
    DEEPMIMIC_JOINTS,
    FRAME_WIDTH,
    deepmimic_to_clip,
    read_deepmimic,
    resample,
    to_z_up_position,
    to_z_up_rotation,
)
from ampbench.motion.convert.isaaclab_npz import isaaclab_to_clip, read_isaaclab_npz
from ampbench.motion.convert.poselib import poselib_to_clip, read_poselib
from ampbench.motion.convert.retarget import (
    SEAM_BLEND_S,
    hinge_xyz_angles,
    joint_groups,
    reference_model,
    twist_angle,
)
from ampbench.robot import quat
from ampbench.robot.model import forward_kinematics, humanoid_spec
from tests.clipfactory import random_in_range_angles, write_isaaclab

MOCAP = Path(__file__).resolve().parents[3] / "shared" / "mocap"
needs_mocap = pytest.mark.skipif(
    not (MOCAP / "deepmimic").is_dir(), reason=f"reference clips not found at {MOCAP} (shared/mocap)"
)
IDENTITY = [1.0, 0.0, 0.0, 0.0]
HIP = slice(14, 17)  # right_hip_x/y/z in the model's DOF order
DEG = np.pi / 180.0


# ---------------------------------------------------------------- helpers: independent kinematics


def deepmimic_world_positions(motion, character: dict) -> dict[str, np.ndarray]:
    """Model body name -> (F, 3) Z-up joint positions, chained in DeepMimic's own Y-up frame."""
    joints = character["Skeleton"]["Joints"]
    body_of = {name: body for name, body, _ in DEEPMIMIC_JOINTS}
    body_of |= {"root": "pelvis", "right_wrist": "right_hand", "left_wrist": "left_hand"}
    order = [name for name, _, _ in DEEPMIMIC_JOINTS]
    frames = len(motion.times)
    rotation, position = {}, {}
    for joint in joints:
        name = joint["Name"]
        if joint["Parent"] < 0:
            rotation[name], position[name] = motion.root_rotations, motion.root_positions
            continue
        parent = joints[joint["Parent"]]["Name"]
        offset = np.broadcast_to([joint["AttachX"], joint["AttachY"], joint["AttachZ"]], (frames, 3))
        position[name] = position[parent] + quat.rotate(rotation[parent], offset)
        local = (
            motion.joint_rotations[:, order.index(name)]
            if name in order
            else np.broadcast_to(IDENTITY, (frames, 4))
        )
        rotation[name] = quat.multiply(rotation[parent], local)
    return {body_of[name]: to_z_up_position(value) for name, value in position.items()}


def poselib_world_positions(state: dict) -> tuple[list[str], np.ndarray]:
    """Node names and (F, N, 3) world positions chained through the file's skeleton tree."""
    tree = state["skeleton_tree"]
    local = quat.xyzw_to_wxyz(state["rotation"].astype(np.float64))
    offsets = tree["local_translation"].astype(np.float64)
    frames, nodes = local.shape[:2]
    positions, rotations = np.zeros((frames, nodes, 3)), np.zeros((frames, nodes, 4))
    for node, parent in enumerate(tree["parent_indices"]):
        if parent < 0:
            positions[:, node], rotations[:, node] = state["root_translation"], local[:, node]
            continue
        rotations[:, node] = quat.multiply(rotations[:, parent], local[:, node])
        step = quat.rotate(rotations[:, parent], np.broadcast_to(offsets[node], (frames, 3)))
        positions[:, node] = positions[:, parent] + step
    return list(tree["node_names"]), positions


def lowest_sole_heights(clip) -> np.ndarray:
    """(F,) height of the lowest corner of either foot box, by MuJoCo kinematics of the clip's pose."""
    model = reference_model()
    data = mujoco.MjData(model)
    geoms = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) for name in ("right_foot", "left_foot")]
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    heights = np.empty(clip.num_frames)
    for frame in range(clip.num_frames):
        data.qpos[:3], data.qpos[3:7] = clip.body_positions[frame, 0], clip.body_rotations[frame, 0]
        data.qpos[7:] = clip.dof_positions[frame]
        mujoco.mj_kinematics(model, data)
        corners = [
            data.geom_xpos[g] + (signs * model.geom_size[g]) @ data.geom_xmat[g].reshape(3, 3).T
            for g in geoms
        ]
        heights[frame] = np.concatenate(corners)[:, 2].min()
    return heights


def ungrounded(clip) -> np.ndarray:
    """The clip's body positions before the converter's grounding offset."""
    return clip.body_positions - np.array([0.0, 0.0, clip.ground_offset])


def write_deepmimic(path: Path, frames: list[list[float]], loop: str = "none") -> Path:
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def deepmimic_frame(duration: float, root=(0.0, 0.9, 0.0), knee: float = 0.0) -> list[float]:
    """A frame with every spherical joint at identity and both knees at `knee` (DeepMimic sign)."""
    values = [duration, *root, *IDENTITY]
    for name, _, width in DEEPMIMIC_JOINTS:
        values += IDENTITY if width == 4 else [knee if name.endswith("knee") else 0.0]
    return values


# ---------------------------------------------------------------- hinge angles


def test_hip_flexion_past_90_degrees_stays_one_continuous_hinge_path():
    flexion = np.linspace(-60.0, -130.0, 71) * DEG  # right_hip_y range is -140..60 degrees
    angles = np.stack([np.zeros_like(flexion), flexion, np.zeros_like(flexion)], axis=-1)
    ranges = humanoid_spec().joint_ranges[HIP]
    recovered, rates = hinge_xyz_angles(quat.from_intrinsic_xyz(angles), ranges, dt=0.1)
    np.testing.assert_allclose(recovered, angles, atol=1e-6)
    np.testing.assert_allclose(rates[:, 1], -1.0 * DEG / 0.1, atol=1e-6)


def test_hinge_rates_stay_smooth_where_the_path_switches_triple():
    # abdomen_x rolls from 0.3 to 2.8 rad and stays: past pi - 1 the other triple (a - pi, pi - b, c - pi)
    # is inside x's [-1, 1] range, so the path switches once; the angles jump, the rates must not.
    roll = np.concatenate([np.linspace(0.3, 2.8, 60), np.full(40, 2.8)])
    angles = np.column_stack([roll, np.full(100, -1.2), np.full(100, 0.2)])
    ranges = np.array([[-1.0, 1.0], [-3.0, 3.0], [-3.2, 3.2]])
    recovered, rates = hinge_xyz_angles(quat.from_intrinsic_xyz(angles), ranges, dt=0.1)
    assert np.abs(np.diff(recovered[:, 2])).max() > 3.0  # the switch
    same_rotation = np.abs(
        np.sum(quat.from_intrinsic_xyz(recovered) * quat.from_intrinsic_xyz(angles), axis=-1)
    )
    np.testing.assert_allclose(same_rotation, 1.0, atol=1e-9)
    expected = np.column_stack([np.gradient(roll, 0.1), np.zeros(100), np.zeros(100)])
    np.testing.assert_allclose(rates, expected, atol=1e-9)


def test_twist_angle_reads_a_knee_rotation_back():
    axis = np.array([0.0, 1.0, 0.0])
    angle = np.array([0.0, 0.5, 2.5, -1.0])
    rotations = quat.from_axis_angle(np.broadcast_to(axis, (4, 3)), angle)
    np.testing.assert_allclose(twist_angle(rotations, axis), angle, atol=1e-12)


# ---------------------------------------------------------------- DeepMimic, synthetic files


def test_deepmimic_frame_change_and_knee_sign(tmp_path):
    frames = [
        deepmimic_frame(0.1, root=(1.0, 0.9, 0.2), knee=-1.0),
        deepmimic_frame(0.0, root=(1.0, 0.9, 0.2)),
    ]
    clip = deepmimic_to_clip(write_deepmimic(tmp_path / "m.txt", frames), fps=10)
    np.testing.assert_allclose(ungrounded(clip)[0, 0], [1.0, -0.2, 0.9], atol=1e-12)
    knees = [clip.dof_names.index("right_knee"), clip.dof_names.index("left_knee")]
    np.testing.assert_allclose(clip.dof_positions[0, knees], [1.0, 1.0], atol=1e-12)
    right_hip = clip.body_names.index("right_thigh")
    assert clip.body_positions[0, right_hip, 1] < clip.body_positions[0, 0, 1]  # right is -y


def test_deepmimic_rotation_frame_change_is_a_conjugation():
    dm_yaw = quat.from_axis_angle(np.array([0.0, 1.0, 0.0]), np.array(0.4))  # turn about DeepMimic's up
    np.testing.assert_allclose(to_z_up_rotation(dm_yaw), [np.cos(0.2), 0.0, 0.0, np.sin(0.2)], atol=1e-12)


def test_deepmimic_resamples_uneven_durations_to_uniform_frames(tmp_path):
    times = np.array([0.0, 0.02, 0.06, 0.08, 0.12])
    frames = [
        deepmimic_frame(duration, root=(t, 0.9, 0.0))
        for t, duration in zip(times, [*np.diff(times), 0.0], strict=True)
    ]
    clip = deepmimic_to_clip(write_deepmimic(tmp_path / "m.txt", frames, loop="wrap"), fps=50)
    assert clip.fps == 50 and clip.num_frames == 7 and clip.loop
    np.testing.assert_allclose(clip.body_positions[:, 0, 0], np.arange(7) * 0.02, atol=1e-12)
    np.testing.assert_allclose(clip.body_linear_velocities[:, 0], [[1.0, 0.0, 0.0]] * 7, atol=1e-9)


def test_deepmimic_names_a_frame_that_lasts_two_frames_in_the_clip_notes(tmp_path):
    durations = [0.02, 0.02, 0.04, 0.02, 0.02, 0.0]  # source frame 2 lasts two frames, as roll's frame 5
    times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
    frames = [deepmimic_frame(d, root=(t, 0.9, 0.0)) for t, d in zip(times, durations, strict=True)]
    clip = deepmimic_to_clip(write_deepmimic(tmp_path / "m.txt", frames), fps=50)
    assert clip.num_frames == 7
    assert any(
        "source frame 2 lasts 0.04 s (median 0.02 s)" in note
        and "7 frames where a converter assuming a fixed step would give 6" in note
        for note in clip.notes
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"Loop": "none", "Frames": [[0.1] * 10, [0.0] * 10]}, f"expected shape (F >= 2, {FRAME_WIDTH})"),
        (
            {"Loop": "bounce", "Frames": [deepmimic_frame(0.1), deepmimic_frame(0.0)]},
            "'Loop' expected one of",
        ),
        ({"Loop": "none", "Frames": [deepmimic_frame(0.0), deepmimic_frame(0.0)]}, "(duration) expected > 0"),
        ({"Loop": "none"}, "found no 'Frames'"),
    ],
)
def test_deepmimic_bad_files_name_file_and_key(tmp_path, document, message):
    path = tmp_path / "bad.txt"
    path.write_text(json.dumps(document))
    with pytest.raises(ClipError, match=r"bad\.txt") as error:
        read_deepmimic(path)
    assert message in str(error.value)


# ---------------------------------------------------------------- poselib and Isaac Lab, synthetic files


def local_rotations_from_angles(angles: np.ndarray) -> dict[str, np.ndarray]:
    """Model body -> (F, 4) rotation relative to its parent, made from (F, 28) hinge angles."""
    rotations = {}
    for group in joint_groups():
        dofs = list(group.dof_indices)
        if len(dofs) == 3:
            rotations[group.body] = quat.from_intrinsic_xyz(angles[:, dofs])
        else:
            axis = np.broadcast_to(group.axes[0], (len(angles), 3))
            rotations[group.body] = quat.from_axis_angle(axis, angles[:, dofs[0]])
    return rotations


def write_poselib(path: Path, angles: np.ndarray, root: np.ndarray, fps: int = 30) -> Path:
    """A poselib-layout pickle (OrderedDict of {"arr", "context"} wrappers) holding the pose angles."""
    bodies, model = humanoid_spec().body_names, reference_model()
    local = np.broadcast_to(IDENTITY, (len(angles), len(bodies), 4)).copy()
    for body, rotation in local_rotations_from_angles(angles).items():
        local[:, bodies.index(body)] = rotation
    tree = {
        "node_names": list(bodies),
        "parent_indices": {"arr": np.array([-1, *(model.body_parentid[2:] - 1)]), "context": {}},
        "local_translation": {"arr": model.body_pos[1:].astype(np.float32), "context": {}},
    }
    state = collections.OrderedDict(
        rotation={"arr": quat.wxyz_to_xyzw(local).astype(np.float32), "context": {}},
        root_translation={"arr": root.astype(np.float32), "context": {}},
        skeleton_tree=tree,
        is_local=True,
        fps=fps,
    )
    np.save(path, np.array(state, dtype=object), allow_pickle=True)
    return path


def test_poselib_recovers_the_hinge_angles_it_was_made_from(tmp_path):
    angles = random_in_range_angles(np.random.default_rng(0), 20)
    root = np.column_stack([np.linspace(0, 1, 20), np.zeros(20), np.full(20, 0.9)])
    clip = poselib_to_clip(write_poselib(tmp_path / "amp_humanoid_test.npy", angles, root))
    np.testing.assert_allclose(clip.dof_positions, angles, atol=1e-5)
    np.testing.assert_allclose(ungrounded(clip)[:, 0], root, atol=1e-6)
    assert clip.fps == 30 and not clip.loop


def test_poselib_reader_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array({"rotation": os.getcwd}, dtype=object), allow_pickle=True)  # a function reference
    with pytest.raises(ClipError, match=r"evil\.npy.*refusing to load"):
        read_poselib(path)


def test_isaaclab_converter_turns_rotation_vectors_into_hinge_angles_and_reorders(tmp_path):
    angles = random_in_range_angles(np.random.default_rng(1), 30)
    clip = isaaclab_to_clip(write_isaaclab(tmp_path / "humanoid_test.npz", angles, exponential_maps=True))
    assert clip.dof_names == humanoid_spec().dof_names and clip.body_names == humanoid_spec().body_names
    np.testing.assert_allclose(clip.dof_positions, angles, atol=1e-5)
    np.testing.assert_allclose(clip.dof_velocities, np.gradient(angles, 1 / 60, axis=0), atol=2e-3)


def test_isaaclab_reader_refuses_a_project_clip(tmp_path):
    path = write_isaaclab(
        tmp_path / "x.npz", random_in_range_angles(np.random.default_rng(2), 5), exponential_maps=True
    )
    np.savez(path, **dict(np.load(path)), dof_convention=np.array("hinge_xyz"))
    with pytest.raises(ClipError, match="already a project clip"):
        read_isaaclab_npz(path)


# ---------------------------------------------------------------- the reference DeepMimic and poselib clips

DEEPMIMIC_LOOPS = {
    "walk": True,
    "run": True,
    "jog": True,
    "roll": True,
    "crawl": True,
    "getup_faceup": False,
    "getup_facedown": False,
}


@needs_mocap
def test_character_file_joint_order_matches_the_converter():
    joints = json.loads((MOCAP / "deepmimic" / "humanoid3d_character.txt").read_text())["Skeleton"]["Joints"]
    moving = [
        (j["Name"], 4 if j["Type"] == "spherical" else 1)
        for j in joints
        if j["Type"] in ("spherical", "revolute")
    ]
    assert moving == [(name, width) for name, _, width in DEEPMIMIC_JOINTS]


@needs_mocap
@pytest.mark.parametrize("name", sorted(DEEPMIMIC_LOOPS))
def test_deepmimic_clip_bodies_match_deepmimic_kinematics(name):
    path = MOCAP / "deepmimic" / f"humanoid3d_{name}.txt"
    clip = deepmimic_to_clip(path)
    character = json.loads((MOCAP / "deepmimic" / "humanoid3d_character.txt").read_text())
    expected = deepmimic_world_positions(resample(read_deepmimic(path), clip.fps), character)
    assert set(expected) == set(clip.body_names)
    untouched = clip.num_frames - (round(SEAM_BLEND_S * clip.fps) if clip.loop else 0)  # seam blended
    for body, positions in expected.items():
        np.testing.assert_allclose(
            ungrounded(clip)[:untouched, clip.body_names.index(body)], positions[:untouched], atol=1e-4
        )
    assert clip.loop is DEEPMIMIC_LOOPS[name]


@needs_mocap
@pytest.mark.parametrize("name", ["walk", "jog", "run"])
def test_deepmimic_locomotion_travels_along_plus_x_facing_forward(name):
    clip = deepmimic_to_clip(MOCAP / "deepmimic" / f"humanoid3d_{name}.txt")
    travel = clip.body_positions[-1, 0] - clip.body_positions[0, 0]
    assert travel[0] > 1.0 and abs(travel[1]) < 0.05 * travel[0]
    heading = quat.heading_yaw(clip.body_rotations[:, 0])
    assert np.abs(heading).max() < 20 * DEG


# Lowest foot-box corner over the grounded clip (m): the lower-quartile frame's lowest collision geom is
# at the floor. Walk and jog soles then meet the floor; run's heel strikes still sink 4-6 cm (frames 11,
# 23, 24); in the getups the grounded geom is the body lying down, so the soles sit 4-7 cm up.
SOLE_BANDS = {  # name: (min low, min high, median low, median high)
    "walk": (-0.015, 0.0, -0.005, 0.015),
    "jog": (-0.02, 0.0, 0.0, 0.025),
    "run": (-0.06, -0.04, 0.0, 0.03),
    "getup_faceup": (-0.01, 0.015, 0.04, 0.07),
    "getup_facedown": (-0.01, 0.01, 0.04, 0.07),
}


@needs_mocap
@pytest.mark.parametrize("name", sorted(SOLE_BANDS))
def test_deepmimic_feet_meet_the_floor(name):
    clip = deepmimic_to_clip(MOCAP / "deepmimic" / f"humanoid3d_{name}.txt")
    soles = lowest_sole_heights(clip)
    feet = clip.body_positions[
        :, [clip.body_names.index("right_foot"), clip.body_names.index("left_foot")], 2
    ]
    print(
        f"{name}: lowest sole min {soles.min():+.4f} median {np.median(soles):+.4f} "
        f"mean {soles.mean():+.4f} m; "
        f"foot body (ankle) z min {feet.min():.4f} mean {feet.mean():.4f} m"
    )
    min_low, min_high, median_low, median_high = SOLE_BANDS[name]
    assert min_low <= soles.min() <= min_high
    assert median_low <= np.median(soles) <= median_high


@needs_mocap
@pytest.mark.parametrize("name", ["walk", "run", "hop"])
def test_poselib_clip_bodies_match_the_skeleton_tree(name):
    path = MOCAP / "isaacgymenvs" / f"amp_humanoid_{name}.npy"
    clip = poselib_to_clip(path)
    nodes, positions = poselib_world_positions(read_poselib(path))
    order = [nodes.index(body) for body in clip.body_names]
    np.testing.assert_allclose(ungrounded(clip), positions[::2, order], atol=1e-4)  # every pose stored twice
    assert clip.fps == 30 and not clip.loop


@needs_mocap
def test_import_local_writes_the_card_clip_names_and_licences(tmp_path):
    lines: list[str] = []
    written = fetch.import_local(MOCAP, tmp_path, report=lines.append)
    names = sorted(str(path.relative_to(tmp_path).with_suffix("")) for path in written)
    assert names == sorted(
        [f"deepmimic/{clip}" for clip in fetch.DEEPMIMIC_CLIPS]
        + [f"poselib/{clip}" for clip in fetch.POSELIB_CLIPS]
    )
    assert load_clip(tmp_path / "deepmimic" / "walk.npz").loop
    assert any("MIT License" in line for line in lines) and any("BSD 3-Clause" in line for line in lines)
    sources = (tmp_path / "SOURCES.md").read_text()
    assert "deepmimic/" in sources and "poselib/" in sources and "mocap.cs.cmu.edu" in sources


@needs_mocap
def test_convert_source_converts_one_file_or_a_folder(tmp_path):
    single = fetch.convert_source(
        "deepmimic", MOCAP / "deepmimic" / "humanoid3d_jog.txt", tmp_path / "jog.npz"
    )
    assert single == [tmp_path / "jog.npz"] and load_clip(single[0]).num_frames == 26
    folder = fetch.convert_source("poselib", MOCAP / "isaacgymenvs", tmp_path / "out")
    assert sorted(path.name for path in folder) == ["hop.npz", "run.npz", "walk.npz"]


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AMPBENCH_DATA", str(tmp_path))
    assert fetch.data_dir() == tmp_path
    monkeypatch.delenv("AMPBENCH_DATA")
    assert fetch.data_dir() == Path("data") / "clips"


def test_import_local_refuses_a_folder_without_sources(tmp_path):
    with pytest.raises(ClipError, match="expected subfolders 'deepmimic'"):
        fetch.import_local(tmp_path, tmp_path / "out", report=lambda _: None)


# ---------------------------------------------------------------- Isaac Lab's clips (network: pip download)


@pytest.fixture(scope="module")
def isaaclab_motions(tmp_path_factory) -> Path:
    try:
        wheel = fetch.download_isaaclab_wheel(tmp_path_factory.mktemp("wheel-cache"))
    except fetch.FetchError as error:
        pytest.skip(f"Isaac Lab wheel not downloadable here: {error}")
    return fetch.extract_isaaclab_motions(wheel)


@pytest.mark.parametrize("name", fetch.ISAACLAB_CLIPS)
def test_isaaclab_clips_match_their_own_bodies_after_conversion(isaaclab_motions, name):
    path = isaaclab_motions / f"humanoid_{name}.npz"
    raw, clip = read_isaaclab_npz(path), isaaclab_to_clip(path)
    raw = {key: value[::2] for key, value in raw.items() if key != "fps"}  # every pose is stored twice
    root = (raw["body_positions"][:, 0], raw["body_rotations"][:, 0])
    as_hinges, _ = forward_kinematics(reference_model(), *root, raw["dof_positions"])
    converted, rotations = forward_kinematics(reference_model(), *root, clip.dof_positions)
    hinge_error = np.linalg.norm(as_hinges - raw["body_positions"], axis=-1).max()
    error = np.linalg.norm(converted - raw["body_positions"], axis=-1).max()
    alignment = np.abs(np.sum(rotations * clip.body_rotations, axis=-1)).min()  # 1 when both are wxyz
    print(
        f"{name}: FK error read as hinge angles {hinge_error * 1000:.1f} mm, converted {error * 1000:.4f} mm"
    )
    assert error < 1e-3 and hinge_error > 0.04
    assert alignment > 1 - 1e-6


def test_fetch_isaaclab_writes_the_three_clips(isaaclab_motions, tmp_path):
    cache = isaaclab_motions.parent
    written = fetch.fetch_isaaclab(tmp_path, cache=cache, report=lambda _: None)
    assert [path.relative_to(tmp_path).as_posix() for path in written] == [
        f"isaaclab/humanoid_{clip}.npz" for clip in fetch.ISAACLAB_CLIPS
    ]
    assert load_clip(written[2]).num_frames == 451  # 902 frames, every pose stored twice
    assert "isaaclab/" in (tmp_path / "SOURCES.md").read_text()
