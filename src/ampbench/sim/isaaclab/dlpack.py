"""Where torch (Isaac Lab) and JAX (the trainer) meet: arrays cross by DLPack, sharing memory where both
frameworks see the same device."""

from __future__ import annotations

import jax
import jax.dlpack
import numpy as np
import torch


def to_torch(actions, device: str) -> torch.Tensor:
    """Actions as a float32 torch tensor on `device`: a JAX array (the trainer's policy) crosses by
    DLPack, with no copy where JAX and torch share the device; numpy (scorers, tests) is copied in."""
    if isinstance(actions, np.ndarray):
        return torch.tensor(actions, dtype=torch.float32, device=device)
    return torch.from_dlpack(actions).to(device=device, dtype=torch.float32)


def to_jax(tensor: torch.Tensor) -> jax.Array:
    """A torch tensor as a JAX array by DLPack: the same memory, on the tensor's device (a CPU-only JAX
    beside torch on a GPU gets it through one copy to the host). Only for tensors made afresh each step
    (JAX treats the memory as immutable; Isaac Lab's own buffers are overwritten in place)."""
    tensor = tensor.detach().contiguous()
    if tensor.device.type != "cpu" and jax.default_backend() == "cpu":
        tensor = tensor.cpu()
    return jax.dlpack.from_dlpack(tensor)
