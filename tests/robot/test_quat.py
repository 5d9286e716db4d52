"""Properties of the quaternion maths the clip loader relies on: slerp and intrinsic x-y-z hinge angles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from ampbench.robot import quat

_component = st.floats(-1.0, 1.0, allow_nan=False)
_raw_quaternion = st.tuples(_component, _component, _component, _component).filter(
    lambda q: np.linalg.norm(q) > 0.1
)
unit_quaternions = _raw_quaternion.map(lambda q: np.asarray(q) / np.linalg.norm(q))
fractions = st.floats(0.0, 1.0, allow_nan=False)


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (rad, in [0, pi]) of the rotation carrying a to b; q and -q are the same rotation."""
    return float(np.linalg.norm(quat.to_rotvec(quat.multiply(b, quat.conjugate(a)))))


@settings(deadline=None)
@given(unit_quaternions, unit_quaternions, fractions)
def test_slerp_stays_unit(q0, q1, t):
    assert np.linalg.norm(quat.slerp(q0, q1, np.asarray(t))) == pytest.approx(1.0, abs=1e-12)


@settings(deadline=None)
@given(unit_quaternions, unit_quaternions)
def test_slerp_hits_both_endpoints(q0, q1):
    assert rotation_angle(quat.slerp(q0, q1, np.asarray(0.0)), q0) < 1e-7
    assert rotation_angle(quat.slerp(q0, q1, np.asarray(1.0)), q1) < 1e-7


@settings(deadline=None)
@given(unit_quaternions, unit_quaternions, fractions, fractions)
def test_slerp_turns_at_constant_speed_along_the_shorter_arc(q0, q1, ta, tb):
    total = rotation_angle(q0, q1)  # in [0, pi]: the shorter of the two arcs
    qa, qb = quat.slerp(q0, q1, np.asarray(ta)), quat.slerp(q0, q1, np.asarray(tb))
    assert rotation_angle(q0, qa) == pytest.approx(ta * total, abs=1e-6)
    assert rotation_angle(qa, qb) == pytest.approx(abs(tb - ta) * total, abs=1e-6)


@settings(deadline=None)
@given(unit_quaternions, unit_quaternions, fractions)
def test_slerp_ignores_the_sign_of_either_endpoint(q0, q1, t):
    assert rotation_angle(quat.slerp(q0, q1, np.asarray(t)), quat.slerp(q0, -q1, np.asarray(t))) < 1e-6


def test_slerp_midpoint_of_identity_and_quarter_turn_is_an_eighth_turn():
    identity = np.array([1.0, 0.0, 0.0, 0.0])
    quarter_turn_z = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    eighth_turn_z = np.array([np.cos(np.pi / 8), 0.0, 0.0, np.sin(np.pi / 8)])
    np.testing.assert_allclose(
        quat.slerp(identity, quarter_turn_z, np.asarray(0.5)), eighth_turn_z, atol=1e-15
    )


angles = st.tuples(st.floats(-3.1, 3.1), st.floats(-1.55, 1.55), st.floats(-3.1, 3.1)).map(np.asarray)


@settings(deadline=None)
@given(angles)
def test_intrinsic_xyz_angles_round_trip(hinges):
    np.testing.assert_allclose(quat.to_intrinsic_xyz(quat.from_intrinsic_xyz(hinges)), hinges, atol=1e-7)


@settings(deadline=None)
@given(unit_quaternions)
def test_quaternion_round_trips_through_intrinsic_xyz_angles(q):
    hinges = quat.to_intrinsic_xyz(q)
    assume(abs(hinges[1]) < 1.55)  # away from gimbal lock, where the angles are ill-conditioned
    assert rotation_angle(quat.from_intrinsic_xyz(hinges), q) < 1e-7


@settings(deadline=None)
@given(angles)
def test_intrinsic_xyz_is_hinge_x_then_y_then_z(hinges):
    """Same rotation as SciPy's intrinsic 'XYZ' Euler angles (upper case = intrinsic)."""
    expected = quat.xyzw_to_wxyz(Rotation.from_euler("XYZ", hinges).as_quat())
    assert rotation_angle(quat.from_intrinsic_xyz(hinges), expected) < 1e-9
