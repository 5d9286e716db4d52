"""What every card section shares: frozen models that forbid unknown keys, and closed intervals."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Range = Annotated[tuple[float, float], Field(description="Closed interval [low, high].")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def ordered(value: tuple[float, float], what: str) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"{what} must be [low, high] with low <= high, got {list(value)}")
    return value
