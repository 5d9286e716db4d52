"""One definition of a push, shared by every backend: a force held on a body for a duration.

A push given as a force applied after the physics step, for one control step, with one random draw for
"whether" and "which way", would act late, be nearly no impulse and push every env alike; here:
- the force for a control step is known BEFORE physics runs (`applied_force`, `scheduled_push_force`)
  and the backend holds it on every physics substep of that control step;
- every push has a duration, and is reported as impulse (N·s) and the centre-of-mass velocity change
  it causes (m/s);
- random numbers are inputs: one row of independent uniforms per env and per control step, drawn by
  the caller's framework (jax.random, torch, numpy Generator), so directions differ between envs.

Durations that are not a whole number of control steps: the force is scaled down in the push's last
control step so that force x duration is applied exactly (the backend holds that scaled force for the
whole step). `scheduled_push_force` does the same at both ends of an evaluation push window, so a
start time between control steps is exact too.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from array_api_compat import array_namespace, device

from ampbench.robot import quat

PUSH_UNIFORM_COLUMNS = 5
"""Columns of `push_step`'s uniforms: start?, body slot, magnitude, duration, azimuth."""
_TIME_EPS = 1e-6
"""Seconds of force left that count as none (float rounding of the countdown); at most 1 µs x force."""
_DIRECTIONS = ("horizontal", "3d")


def push_impulse(force, duration):
    """Impulse (N·s) of a force (N) held for a duration (s)."""
    return force * duration


def push_delta_v(impulse, total_mass):
    """Velocity change (m/s) of the whole robot's centre of mass from an impulse (N·s)."""
    return impulse / total_mass


def push_direction(azimuth, elevation):
    """Unit vectors (..., 3) from azimuth (rad, about +z from +x) and elevation (rad, above the ground)."""
    xp = array_namespace(azimuth, elevation)
    flat = xp.cos(elevation)
    return xp.stack([flat * xp.cos(azimuth), flat * xp.sin(azimuth), xp.sin(elevation)], axis=-1)


def heading_push_vector(force, azimuth_deg, heading_yaw):
    """World force vector (..., 3) of an evaluation push given in the robot's heading frame.

    `azimuth_deg` 0 pushes along the robot's heading (forward), 90 to its left; `heading_yaw` (rad) is
    the robot's yaw when the push starts (`quat.heading_yaw`).
    """
    xp = array_namespace(heading_yaw)
    azimuth = heading_yaw + xp.asarray(azimuth_deg, dtype=heading_yaw.dtype, device=device(heading_yaw)) * (
        math.pi / 180.0
    )
    direction = push_direction(azimuth, xp.zeros_like(azimuth))
    return xp.asarray(force, dtype=heading_yaw.dtype, device=device(heading_yaw))[..., None] * direction


class PushState(NamedTuple):
    """Training-push state per env (a pytree in JAX); it describes the control step about to run.

    force_world (E, 3): full force of the current or latest push (N, world frame).
    body_slot (E,): index into the card's `training_pushes.bodies`.
    remaining (E,): seconds of force still owed, counting the control step about to run (> 0: active).
    step_fraction (E,): share of force_world to hold during the step about to run (1, less in a last
        partial step, 0 when idle).
    elapsed (E,): seconds of force the latest push has applied, including the step about to run.
    impulse (E,), delta_v (E,): the latest push's force x duration (N·s) and impulse / mass (m/s).
    count (E,): pushes started since the env's last reset.
    """

    force_world: Any
    body_slot: Any
    remaining: Any
    step_fraction: Any
    elapsed: Any
    impulse: Any
    delta_v: Any
    count: Any


def push_init(xp, num_envs: int, dtype=None) -> PushState:
    """No push active in any env; `dtype` defaults to float32 (the simulators' precision)."""
    dtype = xp.float32 if dtype is None else dtype
    zeros = xp.zeros((num_envs,), dtype=dtype)
    return PushState(
        force_world=xp.zeros((num_envs, 3), dtype=dtype),
        body_slot=xp.zeros((num_envs,), dtype=xp.int32),
        remaining=zeros,
        step_fraction=zeros,
        elapsed=zeros,
        impulse=zeros,
        delta_v=zeros,
        count=xp.zeros((num_envs,), dtype=xp.int32),
    )


def _check_push_settings(
    probability, force_range, duration_range, num_bodies, direction, control_dt, total_mass
):
    problems = []
    if direction not in _DIRECTIONS:
        problems.append(f"direction must be one of {list(_DIRECTIONS)}, found {direction!r}")
    if not 0.0 <= probability <= 1.0:
        problems.append(f"probability must be in [0, 1], found {probability}")
    if not 0.0 <= force_range[0] <= force_range[1]:
        problems.append(f"force must be [low, high] with 0 <= low <= high, found {list(force_range)}")
    if not 0.0 < duration_range[0] <= duration_range[1]:
        problems.append(f"duration must be [low, high] with 0 < low <= high, found {list(duration_range)}")
    if num_bodies < 1:
        problems.append(f"bodies must name at least one body, found {num_bodies}")
    if control_dt <= 0:
        problems.append(f"control_dt must be > 0 s, found {control_dt}")
    if total_mass <= 0:
        problems.append(f"total_mass must be > 0 kg, found {total_mass}")
    if problems:
        raise ValueError("push_step: training_pushes: " + "; ".join(problems))


def _sample_direction(xp, uniforms, probability: float, direction: str):
    """Unit direction per env: azimuth from column 4; for "3d" uniform on the sphere.

    The "3d" height uses column 0 rescaled: given that a push starts (u0 < probability), u0 / probability
    is uniform in [0, 1) and independent of the other columns, so no sixth column is needed.
    """
    azimuth = (2.0 * math.pi) * uniforms[:, 4]
    if direction == "horizontal":
        return push_direction(azimuth, xp.zeros_like(azimuth))
    height = 2.0 * xp.clip(uniforms[:, 0] / max(probability, 1e-12), 0.0, 1.0) - 1.0
    return push_direction(azimuth, xp.asin(height))


def _sample_push(xp, u, probability, force_range, duration_range, num_bodies: int, direction: str):
    """Force vector (E, 3), body slot, magnitude and duration (E,) a push would get, one per env."""
    magnitude = force_range[0] + u[:, 2] * (force_range[1] - force_range[0])
    duration = duration_range[0] + u[:, 3] * (duration_range[1] - duration_range[0])
    last_slot = xp.asarray(num_bodies - 1, dtype=xp.int32, device=device(u))
    slot = xp.minimum(xp.astype(xp.floor(u[:, 1] * num_bodies), xp.int32), last_slot)
    force = magnitude[:, None] * _sample_direction(xp, u, probability, direction)
    return force, slot, magnitude, duration


def push_step(
    state: PushState,
    uniforms,
    *,
    control_dt: float,
    probability: float,
    force_range: tuple[float, float],
    duration_range: tuple[float, float],
    num_bodies: int,
    direction: str,
    total_mass: float,
) -> PushState:
    """Advance the push process by one control step; call before physics, then `applied_force`.

    The step just simulated used up `min(remaining, control_dt)` seconds of the active push. An idle env
    starts a push with chance `probability` (column 0 of its uniforms (E, 5)); columns 1-4 choose the
    body slot, force magnitude and duration (uniform in their ranges) and the azimuth. No push starts
    while one is active.
    """
    _check_push_settings(
        probability, force_range, duration_range, num_bodies, direction, control_dt, total_mass
    )
    xp = array_namespace(state.remaining)
    dtype = state.remaining.dtype
    num_envs = state.remaining.shape[0]
    if tuple(uniforms.shape) != (num_envs, PUSH_UNIFORM_COLUMNS):
        raise ValueError(
            f"push_step: uniforms must have shape ({num_envs}, {PUSH_UNIFORM_COLUMNS}), "
            f"found {tuple(uniforms.shape)}"
        )
    u = xp.astype(uniforms, dtype)
    owed = state.remaining - control_dt
    owed = xp.where(owed > _TIME_EPS, owed, xp.zeros_like(owed))
    start = (owed <= 0.0) & (u[:, 0] < probability)
    force, slot, magnitude, duration = _sample_push(
        xp, u, probability, force_range, duration_range, num_bodies, direction
    )
    owed = xp.where(start, duration, owed)
    step_seconds = xp.minimum(owed, xp.full_like(owed, control_dt))
    impulse = push_impulse(magnitude, duration)
    return PushState(
        force_world=xp.where(start[:, None], force, state.force_world),
        body_slot=xp.where(start, slot, state.body_slot),
        remaining=owed,
        step_fraction=step_seconds / control_dt,
        elapsed=xp.where(start, xp.zeros_like(owed), state.elapsed) + step_seconds,
        impulse=xp.where(start, impulse, state.impulse),
        delta_v=xp.where(start, push_delta_v(impulse, total_mass), state.delta_v),
        count=state.count + xp.astype(start, xp.int32),
    )


def applied_force(state: PushState):
    """(E, 3) world force to hold on body `body_slot` (E,) during the control step about to run."""
    return state.force_world * state.step_fraction[:, None], state.body_slot


def push_on_reset(state: PushState, reset_mask) -> PushState:
    """Clear every field of envs whose episode restarts (`reset_mask` (E,) bool): no push carries over."""
    xp = array_namespace(state.remaining)
    fresh = push_init(xp, state.remaining.shape[0], dtype=state.remaining.dtype)
    return PushState(
        *(
            xp.where(reset_mask[:, None] if old.ndim == 2 else reset_mask, new, old)
            for new, old in zip(fresh, state, strict=True)
        )
    )


def scheduled_push_fraction(step_time, start_time, duration, control_dt: float):
    """Share (0..1) of an evaluation push's force to hold in the control step [t, t + control_dt).

    It is the overlap of that step with the push window [start, start + duration) divided by the step,
    so the applied impulse is force x duration exactly, whatever the start time and duration.
    """
    xp = array_namespace(step_time)
    since_start = step_time - start_time
    duration = xp.asarray(duration, dtype=since_start.dtype, device=device(since_start))
    begin = xp.maximum(since_start, xp.zeros_like(since_start))
    overlap = xp.minimum(since_start + control_dt, duration) - begin
    return xp.clip(overlap, 0.0, control_dt) / control_dt


def scheduled_push_force(step_time, start_time, duration, force_world, control_dt: float):
    """(..., 3) force to hold during the control step starting at `step_time` (s) of an evaluation push."""
    fraction = scheduled_push_fraction(step_time, start_time, duration, control_dt)
    return fraction[..., None] * force_world


def scheduled_push_step(step_time, start_time, duration, force, azimuth_deg, root_rotation, push_vector, dt):
    """(push_vector, force) (..., 3) of an evaluation push for the control step starting at `step_time`.

    The world direction is fixed from the robot's heading at the step the push starts (`push_vector` is
    all zero until then) and held for the rest of the push.
    """
    xp = array_namespace(root_rotation)
    pushing = scheduled_push_fraction(step_time, start_time, duration, dt) > 0
    starting = pushing & xp.all(push_vector == 0, axis=-1)
    heading = heading_push_vector(force, azimuth_deg, quat.heading_yaw(root_rotation))
    vector = xp.where(starting[..., None], heading, push_vector)
    return vector, scheduled_push_force(step_time, start_time, duration, vector, dt)
