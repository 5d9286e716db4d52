"""Gait events of one foot from body poses, online, so evaluation pushes can land at a known gait phase.

Array API functions (numpy in the MuJoCo C env, JAX in MJX). Only poses are read (no contact forces),
so every simulator times its pushes by the same rule:
- touchdown: the foot's body origin comes below the contact height;
- liftoff: it rises above it;
- mid-stance: in contact, the pelvis passes over the foot (the foot's forward offset from the pelvis in
  the heading frame turns from ahead to behind);
- mid-swing: off the floor, the foot passes the pelvis (behind to ahead).
"""

from __future__ import annotations

from array_api_compat import array_namespace

from ampbench.robot import quat

GAIT_EVENTS = ("touchdown", "mid_stance", "liftoff", "mid_swing")


def foot_phase(foot_position, root_position, root_rotation, contact_height):
    """(contact, ahead) of a foot (..., 3): on the floor, and its forward offset from the pelvis (m)."""
    xp = array_namespace(foot_position)
    yaw = quat.heading_yaw(root_rotation)
    offset = foot_position - root_position
    ahead = xp.cos(yaw) * offset[..., 0] + xp.sin(yaw) * offset[..., 1]
    return foot_position[..., 2] < contact_height, ahead


def gait_events(previous_contact, previous_ahead, contact, ahead):
    """(..., 4) bool, one column per `GAIT_EVENTS` entry: which events happened between two steps."""
    xp = array_namespace(ahead)
    passed_behind = (previous_ahead > 0) & (ahead <= 0)
    passed_ahead = (previous_ahead < 0) & (ahead >= 0)
    return xp.stack(
        [
            contact & ~previous_contact,
            contact & previous_contact & passed_behind,
            ~contact & previous_contact,
            ~contact & ~previous_contact & passed_ahead,
        ],
        axis=-1,
    )
