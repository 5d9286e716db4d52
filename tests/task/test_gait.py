"""Gait events from foot poses: each event fires on its own transition only, in the heading frame."""

import numpy as np
import pytest

from ampbench.robot import quat
from ampbench.task.gait import GAIT_EVENTS, foot_phase, gait_events


def _events(previous, now):
    """previous / now = (contact, ahead) pairs -> the names of the events between them."""
    fired = gait_events(np.array(previous[0]), np.array(previous[1]), np.array(now[0]), np.array(now[1]))
    return [name for name, on in zip(GAIT_EVENTS, fired, strict=True) if on]


@pytest.mark.parametrize(
    ("previous", "now", "events"),
    [
        ((False, 0.2), (True, 0.2), ["touchdown"]),
        ((True, 0.05), (True, -0.01), ["mid_stance"]),
        ((True, -0.2), (False, -0.2), ["liftoff"]),
        ((False, -0.05), (False, 0.01), ["mid_swing"]),
        ((True, -0.05), (True, 0.01), []),  # a stance foot does not pass the pelvis forwards
        ((False, 0.05), (False, -0.01), []),  # nor a swinging one backwards
        ((True, 0.1), (True, 0.05), []),
    ],
)
def test_each_event_fires_on_its_transition_only(previous, now, events):
    assert _events(previous, now) == events


def test_foot_phase_measures_ahead_in_the_heading_frame():
    root = np.array([1.0, 2.0, 0.9])
    facing_left = quat.yaw_quat(np.array(np.pi / 2))  # heading along +y
    foot = np.array([[1.0, 2.3, 0.05], [1.0, 1.8, 0.2]])
    contact, ahead = foot_phase(foot, root, facing_left, contact_height=0.08)
    np.testing.assert_array_equal(contact, [True, False])
    np.testing.assert_allclose(ahead, [0.3, -0.2], atol=1e-6)
