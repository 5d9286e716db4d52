"""Quaternion maths written once against the array API, so numpy, jax.numpy and torch share it.

Convention everywhere in ampbench: scalar-first `wxyz`, unit quaternions, active rotations, and
"intrinsic x-y-z" means three hinges applied in order about the moving x, then y, then z axis (the
order of the MJCF's `*_x`, `*_y`, `*_z` hinges). Backends that use xyzw convert at their edge with
`wxyz_to_xyzw` / `xyzw_to_wxyz`.
"""

from __future__ import annotations

from array_api_compat import array_namespace

_EPS = 1e-9


def _stack(xp, parts, axis=-1):
    return xp.stack(parts, axis=axis)


def normalize(q):
    xp = array_namespace(q)
    return q / xp.maximum(xp.linalg.vector_norm(q, axis=-1, keepdims=True), _EPS)


def conjugate(q):
    xp = array_namespace(q)
    return xp.concat([q[..., :1], -q[..., 1:]], axis=-1)


def multiply(a, b):
    """Hamilton product a * b (apply b, then a)."""
    xp = array_namespace(a, b)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return _stack(
        xp,
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
    )


def _cross(xp, a, b):
    return _stack(
        xp,
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
    )


def rotate(q, v):
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4)."""
    xp = array_namespace(q, v)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * _cross(xp, u, v)
    return v + w * t + _cross(xp, u, t)


def rotate_inverse(q, v):
    return rotate(conjugate(q), v)


def from_axis_angle(axis, angle):
    """Unit axis (..., 3) and angle (...) -> quaternion."""
    xp = array_namespace(axis, angle)
    half = angle[..., None] * 0.5
    return xp.concat([xp.cos(half), axis * xp.sin(half)], axis=-1)


def from_rotvec(rotvec):
    """Exponential map (rotation vector, rad) -> quaternion; exact near zero."""
    xp = array_namespace(rotvec)
    angle = xp.linalg.vector_norm(rotvec, axis=-1, keepdims=True)
    half = 0.5 * angle
    small = angle < 1e-6
    # sin(half)/angle -> 1/2 - angle^2/48 as angle -> 0
    scale = xp.where(small, 0.5 - angle * angle / 48.0, xp.sin(half) / xp.where(small, 1.0, angle))
    return xp.concat([xp.cos(half), rotvec * scale], axis=-1)


def to_rotvec(q):
    """Quaternion -> rotation vector with angle in [0, pi]."""
    xp = array_namespace(q)
    q = normalize(q)
    q = xp.where(q[..., :1] < 0, -q, q)
    vec_norm = xp.linalg.vector_norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * xp.atan2(vec_norm, q[..., :1])
    small = vec_norm < 1e-7
    scale = xp.where(small, 2.0, angle / xp.where(small, 1.0, vec_norm))
    return q[..., 1:] * scale


def slerp(q0, q1, t):
    """Spherical interpolation along the shorter arc; t (...) in [0, 1]."""
    xp = array_namespace(q0, q1, t)
    dot = xp.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = xp.where(dot < 0, -q1, q1)
    dot = xp.abs(dot)
    t = t[..., None]
    theta = xp.acos(xp.clip(dot, -1.0, 1.0))
    sin_theta = xp.sin(theta)
    near = sin_theta < 1e-6
    safe = xp.where(near, 1.0, sin_theta)
    w0 = xp.where(near, 1.0 - t, xp.sin((1.0 - t) * theta) / safe)
    w1 = xp.where(near, t, xp.sin(t * theta) / safe)
    return normalize(w0 * q0 + w1 * q1)


_AXES = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def from_intrinsic_xyz(angles):
    """Three hinge angles (..., 3) applied about moving x, then y, then z -> quaternion."""
    xp = array_namespace(angles)
    q = None
    for i, axis in enumerate(_AXES):
        axis_arr = xp.broadcast_to(xp.asarray(axis, dtype=angles.dtype), angles.shape)
        step = from_axis_angle(axis_arr, angles[..., i])
        q = step if q is None else multiply(q, step)
    return q


def to_intrinsic_xyz(q):
    """Quaternion -> intrinsic x-y-z hinge angles, y in [-pi/2, pi/2]."""
    xp = array_namespace(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # R = Rx(a) Ry(b) Rz(c): R[0,2] = sin(b), R[1,2] = -sin(a)cos(b), R[2,2] = cos(a)cos(b),
    # R[0,1] = -cos(b)sin(c), R[0,0] = cos(b)cos(c)
    r02 = 2.0 * (x * z + w * y)
    r12 = 2.0 * (y * z - w * x)
    r22 = 1.0 - 2.0 * (x * x + y * y)
    r01 = 2.0 * (x * y - w * z)
    r00 = 1.0 - 2.0 * (y * y + z * z)
    a = xp.atan2(-r12, r22)
    b = xp.asin(xp.clip(r02, -1.0, 1.0))
    c = xp.atan2(-r01, r00)
    return _stack(xp, [a, b, c])


def heading_yaw(q):
    """Yaw of the body's forward (x) axis projected on the ground plane."""
    xp = array_namespace(q)
    ref = xp.zeros((*q.shape[:-1], 3), dtype=q.dtype)
    ref = ref + xp.asarray((1.0, 0.0, 0.0), dtype=q.dtype)
    fwd = rotate(q, ref)
    return xp.atan2(fwd[..., 1], fwd[..., 0])


def yaw_quat(yaw):
    xp = array_namespace(yaw)
    zero = xp.zeros_like(yaw)
    return _stack(xp, [xp.cos(0.5 * yaw), zero, zero, xp.sin(0.5 * yaw)])


def tangent_normal(q):
    """6-D continuous orientation: the rotated x (tangent) and z (normal) axes."""
    xp = array_namespace(q)
    shape = (*q.shape[:-1], 3)
    ex = xp.zeros(shape, dtype=q.dtype) + xp.asarray((1.0, 0.0, 0.0), dtype=q.dtype)
    ez = xp.zeros(shape, dtype=q.dtype) + xp.asarray((0.0, 0.0, 1.0), dtype=q.dtype)
    return xp.concat([rotate(q, ex), rotate(q, ez)], axis=-1)


def angular_velocity(q0, q1, dt):
    """World-frame angular velocity that carries q0 to q1 in dt seconds."""
    return to_rotvec(multiply(q1, conjugate(q0))) / dt


def wxyz_to_xyzw(q):
    xp = array_namespace(q)
    return xp.concat([q[..., 1:], q[..., :1]], axis=-1)


def xyzw_to_wxyz(q):
    xp = array_namespace(q)
    return xp.concat([q[..., 3:], q[..., :3]], axis=-1)
