"""Between two frames the library's pose is one body configuration: forward kinematics of its
interpolated root and DOF angles lands on its slerped body poses, in every shipped clip.

Blending x-y-z hinge angles linearly failed this where a converter switched between the two triples of
a rotation (DeepMimic crawl, getup_faceup, roll and getup_facedown: up to 272 mm and 38 degrees off);
the residual allowed here is the difference between slerping world bodies and chaining slerped joints
(at most 17 mm, in DeepMimic run at 30 fps). Clips come from $AMPBENCH_DATA or ./data/clips (`ampbench
data fetch`); the test skips when there are none.
"""

from __future__ import annotations

import numpy as np
import pytest

from ampbench.motion.clip_files import load_clip
from ampbench.motion.convert.retarget import reference_model
from ampbench.motion.fetch import data_dir
from ampbench.motion.loader import MotionLibrary
from ampbench.robot import quat
from ampbench.robot.model import forward_kinematics

POSITION_TOLERANCE_M = 0.025
ANGLE_TOLERANCE_DEG = 2.0
SHIPPED = sorted(data_dir().glob("*/*.npz"))


def mid_frame_errors(clip) -> tuple[np.ndarray, np.ndarray]:
    """Per interval: worst body position (m) and rotation (degrees) error of FK against the library."""
    times = (np.arange(clip.num_frames - 1) + 0.5) / clip.fps
    state = MotionLibrary([clip]).state_at(np.zeros(len(times), dtype=np.int64), times)
    positions, rotations = forward_kinematics(
        reference_model(), state.body_positions[:, 0], state.body_rotations[:, 0], state.dof_positions
    )
    position_error = np.linalg.norm(positions - state.body_positions, axis=-1).max(axis=1)
    relative = quat.multiply(rotations, quat.conjugate(state.body_rotations))
    angle_error = np.degrees(np.linalg.norm(quat.to_rotvec(relative), axis=-1)).max(axis=1)
    return position_error, angle_error


@pytest.mark.skipif(not SHIPPED, reason=f"no clips in {data_dir()} (run `ampbench data fetch`)")
@pytest.mark.parametrize("path", SHIPPED, ids=[f"{p.parent.name}/{p.stem}" for p in SHIPPED])
def test_mid_frame_kinematics_match_the_slerped_bodies(path):
    position_error, angle_error = mid_frame_errors(load_clip(path))
    worst = int(np.argmax(position_error))
    print(
        f"{path.name}: worst interval {worst}: {position_error[worst] * 1000:.1f} mm, "
        f"{angle_error.max():.2f} deg"
    )
    bad = np.flatnonzero((position_error > POSITION_TOLERANCE_M) | (angle_error > ANGLE_TOLERANCE_DEG))
    assert not bad.size, (
        f"{path}: intervals {bad.tolist()} off by up to {position_error.max() * 1000:.0f} mm, "
        f"{angle_error.max():.1f} deg"
    )
