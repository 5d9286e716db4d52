"""What every card section shares: frozen models that forbid unknown keys, and closed intervals."""

from __future__ import annotations

import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Range = Annotated[tuple[float, float], Field(description="Closed interval [low, high].")]
Width = Annotated[int, Field(ge=1)]
"""A network layer width."""

# Physical bounds every card number is held to (beyond them a card describes no humanoid experiment).
MAX_TIMESTEP = 0.02  # s: the humanoid's contacts and PD servos are unstable well before this
MAX_FORCE = 10_000.0  # N: 200x the body weight of the 50 kg humanoid, far past any push that it survives
MAX_PUSH_SECONDS = 10.0  # s a push may be held
MAX_EPISODE_SECONDS = 3600.0  # s of one episode


def _admits_bool(annotation: Any) -> bool:
    """Whether a field's type takes a boolean (bool itself, or a union or literal holding one)."""
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(arg) or isinstance(arg, bool) for arg in typing.get_args(annotation))


class Frozen(BaseModel):
    """Frozen, unknown keys refused, no inf or NaN, and no boolean where a number belongs (pydantic would
    read `envs: true` as 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is None or _admits_bool(field.annotation):
                    continue
                items = value if isinstance(value, list | tuple) else [value]
                if any(isinstance(item, bool) for item in items):
                    raise ValueError(f"{name}: expected a number, found {value!r} (a boolean)")
        return data


def unique(values: tuple[int, ...], what: str) -> tuple[int, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat a seed, found {list(values)}")
    return values


def ordered(value: tuple[float, float], what: str) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"{what} must be [low, high] with low <= high, got {list(value)}")
    return value
