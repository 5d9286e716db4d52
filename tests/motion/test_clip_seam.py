"""Loop clips end on their first pose (the loader wraps from the last frame to frame 0 without a
blend): a seam jump in the source is warned, noted and blended shut over the clip's end."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ampbench.motion.clip import SourceDataWarning
from ampbench.motion.convert.deepmimic import DEEPMIMIC_JOINTS, deepmimic_to_clip
from ampbench.motion.convert.retarget import SEAM_BLEND_S
from ampbench.robot import quat

FPS, FRAMES = 30, 31
SHOULDER = [name for name, _, _ in DEEPMIMIC_JOINTS].index("right_shoulder")


def frame(t: float, shoulder_turn: float) -> list[float]:
    """A DeepMimic frame: the root walks along DeepMimic's x, the right shoulder swings about z."""
    values = [1.0 / FPS, 1.2 * t, 0.9, 0.0, 1.0, 0.0, 0.0, 0.0]
    for j, (_, _, width) in enumerate(DEEPMIMIC_JOINTS):
        angle = shoulder_turn if j == SHOULDER else 0.0
        values += [np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)] if width == 4 else [0.0]
    return values


def write_loop(path, seam_deg: float, loop: str = "wrap"):
    """One swing cycle of the shoulder (0.3 sin) drifting by seam_deg over the clip, so the last frame
    is seam_deg off the first."""
    times = np.arange(FRAMES) / FPS
    swing = 0.3 * np.sin(2 * np.pi * times / times[-1]) + np.radians(seam_deg) * times / times[-1]
    path.write_text(
        json.dumps({"Loop": loop, "Frames": [frame(t, a) for t, a in zip(times, swing, strict=True)]})
    )
    return path


def shoulder_rotations(clip) -> np.ndarray:
    dofs = [clip.dof_names.index(f"right_shoulder_{axis}") for axis in "xyz"]
    return quat.from_intrinsic_xyz(clip.dof_positions[:, dofs])


def angle_deg(a, b) -> np.ndarray:
    return np.degrees(np.linalg.norm(quat.to_rotvec(quat.multiply(b, quat.conjugate(a))), axis=-1))


def test_a_seam_jump_is_warned_noted_and_blended_over_the_end(tmp_path):
    with pytest.warns(SourceDataWarning, match=r"does not repeat the first.*right_upper_arm 30\.0 deg"):
        clip = deepmimic_to_clip(write_loop(tmp_path / "seam.txt", 30.0))
    shoulder = shoulder_rotations(clip)
    assert angle_deg(shoulder[-1], shoulder[0]) < 1e-6  # the last frame repeats the first
    span = round(SEAM_BLEND_S * FPS)
    steps = angle_deg(shoulder[:-1], shoulder[1:])
    assert steps.max() < 30.0 / span + 4.0  # the jump spread over the blend, beside the swing's own steps
    assert any(note.startswith(f"loop seam closed over the last {span} frames") for note in clip.notes)
    reference = deepmimic_to_clip(write_loop(tmp_path / "none.txt", 30.0, loop="none"))
    np.testing.assert_allclose(
        clip.dof_positions[: FRAMES - span], reference.dof_positions[: FRAMES - span], atol=1e-12
    )


def test_a_closed_loop_is_left_as_it_is_without_a_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SourceDataWarning)
        clip = deepmimic_to_clip(write_loop(tmp_path / "closed.txt", 0.0))
    reference = deepmimic_to_clip(write_loop(tmp_path / "open.txt", 0.0, loop="none"))
    np.testing.assert_allclose(clip.dof_positions, reference.dof_positions, atol=1e-9)
    np.testing.assert_allclose(clip.body_positions, reference.body_positions, atol=1e-9)
