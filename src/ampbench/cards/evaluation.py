"""The card's scoring protocol (`evaluation:`): the push grid, the headline push, endurance and gait-timed
pushes, and the thresholds the harness asserts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ampbench.cards.base import MAX_EPISODE_SECONDS, MAX_FORCE, MAX_PUSH_SECONDS, Frozen, unique


class EvalPushGrid(Frozen):
    forces: tuple[Annotated[float, Field(ge=0, le=MAX_FORCE)], ...] = Field(
        (0.0, 50.0, 100.0, 150.0, 200.0), description=f"Push forces (N), each in [0, {MAX_FORCE:g}]."
    )
    durations: tuple[Annotated[float, Field(gt=0, le=MAX_PUSH_SECONDS)], ...] = Field(
        (0.1, 0.2), description=f"Push durations (s), each in (0, {MAX_PUSH_SECONDS:g}]."
    )
    bodies: tuple[str, ...] = Field(("pelvis", "torso"), min_length=1, description="Pushed bodies.")
    azimuths: tuple[float, ...] = Field(
        (0.0, 90.0, 180.0, 270.0), min_length=1, description="Push directions (deg, 0 = forward, 90 = left)."
    )
    settle_seconds: float = Field(2.0, ge=0, description="Walking time before the push starts (s).")
    window_seconds: float = Field(3.0, gt=0, description="A fall within this time after the push counts (s).")


class Expectation(Frozen):
    """A threshold that the harness asserts like a test."""

    metric: Literal["push_success", "mean_episode_seconds"] = Field(description="Scored quantity.")
    force: float | None = Field(None, description="Push force (N) for `push_success`.")
    duration: float | None = Field(None, description="Push duration (s) for `push_success`.")
    at_least: float = Field(
        description="Lower bound on the metric's mean over evaluation seeds; push success is the "
        "unconditional rate (a fall before the push counts as a failure)."
    )


class PushCell(Frozen):
    force: float = Field(ge=0, le=MAX_FORCE, description="Push force (N).")
    duration: float = Field(gt=0, description="Push duration (s).")


class EnduranceConfig(Frozen):
    """Long evaluation episodes under the card's own random training pushes (`training_pushes`), so
    survival is measured past the unpushed episodes' time limit."""

    enabled: bool = Field(
        True, description="Play the endurance scenario (unpushed for a card without pushes)."
    )
    seconds: float = Field(60.0, ge=60.0, description="Episode length (s); at least 60.")
    envs: int = Field(32, ge=1, description="Episodes per evaluation seed.")
    expected_steps_100hz: float | None = Field(
        None,
        gt=0,
        description="The design's expected episode length for this card in steps of a 100 Hz env, "
        "printed beside the measured survival; None where the design states none.",
    )


class GaitPushConfig(Frozen):
    """Pushes timed by gait events of one foot, detected online from body poses after a warm-up:
    touchdown (the foot comes within `contact_height`), liftoff (it leaves), mid-stance (in contact,
    the pelvis passes over the foot) and mid-swing (off the floor, the foot passes the pelvis)."""

    enabled: bool = Field(True, description="Play the gait-phase push scenarios.")
    force: float = Field(50.0, gt=0, le=MAX_FORCE, description="Push force (N).")
    duration: float = Field(0.1, gt=0, description="Push duration (s).")
    body: str = Field("pelvis", description="Pushed body.")
    azimuths: tuple[float, ...] = Field(
        (90.0,), min_length=1, description="Push directions (deg, 90 = left)."
    )
    foot: str = Field("left_foot", description="The foot whose events time the push.")
    contact_height: float = Field(
        0.08, gt=0, description="The foot is on the floor while its body origin is below this height (m)."
    )
    warmup_seconds: float = Field(2.0, ge=2.0, description="No push before this time after reset (s).")
    wait_seconds: float = Field(
        2.0,
        gt=0,
        description="How long after the warm-up an event may take; later, the episode is not pushed (s).",
    )
    window_seconds: float = Field(3.0, gt=0, description="A fall within this time after the push counts (s).")


class ImitationConfig(Frozen):
    """How far the policy's AMP features are from the clips' (`ampbench.task.imitation`)."""

    reference_rows: int = Field(
        20_000, ge=100, description="Clip AMP observations drawn to fit the clips' feature distribution."
    )
    min_feature_std: float = Field(
        0.05,
        gt=0,
        description="Each feature column is measured in units of max(the clips' std of it, this): a column "
        "the clips barely move (the pelvis roll of a walk, std 0.001) would otherwise turn a lean of a "
        "degree into hundreds of units and drown every other column. In the features' own units (m, rad, "
        "m/s, rad/s, or torque / effort limit).",
    )


class BreakingPointSearch(Frozen):
    """The push a policy stops surviving, searched per body, azimuth and duration of the push grid rather
    than read off the grid (whose top cell, when survived, is a cap and not a measurement): the force
    doubles from `start_force` until success drops below `threshold`, then bisects (in log force) until
    the bracket is within `resolution`. Each probe plays `evaluation.envs` episodes on the first
    evaluation seed, timed as the push grid's (so a compiled evaluator is reused)."""

    enabled: bool = Field(True, description="Search the breaking point when scoring.")
    start_force: float = Field(25.0, gt=0, le=MAX_FORCE, description="First force probed (N).")
    ceiling_force: float = Field(
        3200.0, gt=0, le=MAX_FORCE, description="Highest force probed (N); surviving it reports '> ceiling'."
    )
    threshold: float = Field(
        0.9, gt=0, le=1, description="Success rate (episodes up at the push) that counts as surviving."
    )
    resolution: float = Field(
        0.1, gt=0, description="Stop bisecting when failed / survived force <= 1 + resolution."
    )

    @model_validator(mode="after")
    def _ordered(self) -> BreakingPointSearch:
        if self.start_force > self.ceiling_force:
            raise ValueError(f"start_force {self.start_force} is above ceiling_force {self.ceiling_force}")
        return self


class RenderConfig(Frozen):
    """The video and filmstrip of a scored policy beside its clip (`ampbench render`); they show, they do
    not score."""

    seconds: float = Field(8.0, gt=0, description="Length of each video (s).")
    fps: float = Field(
        25.0,
        gt=0,
        description="Video frame rate; frames are recorded control steps, every "
        "round(1 / (fps x control_dt))-th.",
    )
    width: int = Field(480, ge=16, multiple_of=2, description="Frame width (px; even, for H.264).")
    height: int = Field(360, ge=16, multiple_of=2, description="Frame height (px; even, for H.264).")
    camera_distance: float = Field(4.0, gt=0, description="Tracking camera distance (m).")
    filmstrip_frames: int = Field(8, ge=1, description="Frames side by side in the PNG filmstrip.")
    arrow_m_per_newton: float = Field(
        0.004, gt=0, description="Length of the drawn push arrow per newton of push force (m/N)."
    )


class EvalConfig(Frozen):
    seeds: tuple[int, ...] = Field((100, 101, 102), min_length=1, description="Evaluation seeds.")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        return unique(seeds, "evaluation.seeds")

    envs: int = Field(64, ge=1, description="Episodes run in parallel per seed and scenario.")
    episode_seconds: float = Field(
        20.0, gt=0, le=MAX_EPISODE_SECONDS, description="Length of an unpushed evaluation episode (s)."
    )
    push_grid: EvalPushGrid = Field(default_factory=EvalPushGrid, description="Push robustness grid.")
    headline_push: PushCell | None = Field(
        None, description="The push-grid cell whose unconditional success the results headline shows."
    )
    endurance: EnduranceConfig = Field(
        default_factory=EnduranceConfig, description="Long episodes under the training pushes."
    )
    gait_pushes: GaitPushConfig = Field(default_factory=GaitPushConfig, description="Pushes at gait events.")
    breaking_point: BreakingPointSearch = Field(
        default_factory=BreakingPointSearch, description="The push each direction stops surviving."
    )
    render: RenderConfig = Field(
        default_factory=RenderConfig, description="Videos and filmstrips of the policy beside its clip."
    )
    imitation: ImitationConfig = Field(
        default_factory=ImitationConfig, description="The imitation distance (training curves, score files)."
    )
    expectations: tuple[Expectation, ...] = Field((), description="Thresholds asserted by the harness.")

    @model_validator(mode="after")
    def _headline_push_in_grid(self) -> EvalConfig:
        cell, grid = self.headline_push, self.push_grid
        if cell is not None and (cell.force not in grid.forces or cell.duration not in grid.durations):
            raise ValueError(
                f"evaluation.headline_push {cell.force} N x {cell.duration} s is not a cell of "
                f"evaluation.push_grid (forces {list(grid.forces)}, durations {list(grid.durations)})"
            )
        return self
