"""The experiment card's schema: frozen Pydantic models that forbid unknown keys, and the card hash.

The scoring protocol is in `ampbench.cards.evaluation`, the shared base in `ampbench.cards.base`; loading
(overlays, overrides, validation errors naming the file and field) in `ampbench.cards.loading`.
`ampbench.cards` re-exports them all.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ampbench.cards.base import (
    MAX_EPISODE_SECONDS,
    MAX_FORCE,
    MAX_PUSH_SECONDS,
    MAX_TIMESTEP,
    Frozen,
    Range,
    Width,
    ordered,
    unique,
)
from ampbench.cards.evaluation import EvalConfig
from ampbench.core.backends import BACKENDS


class MjxOptions(Frozen):
    impl: Literal["jax", "warp"] = Field("jax", description="MJX implementation (`mjx.Impl`).")


class SimulatorConfig(Frozen):
    """Physics settings; every backend reads the same numbers so their results compare."""

    timestep: float = Field(
        0.005, gt=0, le=MAX_TIMESTEP, description=f"Physics step in seconds (at most {MAX_TIMESTEP})."
    )
    substeps: int = Field(
        4, ge=1, description="Physics steps per control step (control dt = timestep x substeps)."
    )
    solver: Literal["newton", "cg"] = Field("newton", description="Constraint solver.")
    iterations: int = Field(4, ge=1, description="Solver iterations per physics step.")
    ls_iterations: int = Field(8, ge=1, description="Line-search iterations per solver iteration.")
    cone: Literal["pyramidal", "elliptic"] = Field("pyramidal", description="Friction cone.")
    integrator: Literal["implicitfast", "euler"] = Field(
        "implicitfast",
        description="Time integrator; implicitfast treats joint damping implicitly, which keeps light limbs "
        "under full effort limits stable at a 5 ms step.",
    )
    contacts: Literal["sparse", "feet", "floor", "all"] | tuple[str, ...] = Field(
        "sparse",
        description="Which geoms touch the floor (MJX evaluates every candidate pair every step, so this "
        "decides most of its speed): `sparse` (pelvis, torso, head and hand spheres, massless spheres at "
        "shoulders, elbows, hips and knees, the foot boxes: 21 contacts; falls land on them and a lying "
        "body rests as with every segment colliding), `feet` "
        "(the foot boxes only), `floor` (every segment geom: 34 contacts), `all` (floor plus "
        "self-collision, about 3x slower in MJX), or a list of geom names, each paired with the floor.",
    )
    disable: tuple[
        Literal["eulerdamp", "warmstart", "frictionloss", "filterparent", "midphase", "refsafe", "clampctrl"],
        ...,
    ] = Field(
        (),
        description="MuJoCo disable flags (`option/flag` in MJCF; e.g. `eulerdamp`, which only matters for "
        "the `euler` integrator), applied by every MuJoCo backend.",
    )
    max_velocity: float = Field(
        1000.0,
        gt=0,
        description="A physics step that leaves any generalized velocity (qvel: m/s for the root's "
        "translation, rad/s for rotations and joints) beyond this has blown up: it is undone and ends its "
        "episode as a fall (`physics_blowup`). MuJoCo's own limit (1e10) lets a diverging state run for "
        "many steps, and one such row in the running observation statistics shrinks every later "
        "normalised observation to ~0. Human joints stay under ~30 rad/s.",
    )
    mjx: MjxOptions = Field(default_factory=MjxOptions, description="Options only the MJX backend reads.")

    @property
    def control_dt(self) -> float:
        return self.timestep * self.substeps


class HumanoidConfig(Frozen):
    model: str = Field("amp_humanoid", description="MJCF name under mjcf/ (without .xml).")
    action_mode: Literal["torque", "pd"] = Field(
        "pd",
        description="`pd`: actions are joint position targets held by MuJoCo position actuators (the "
        "model's kp, kv = kd, force clamped at the effort limit; the integrator treats kv implicitly), as "
        "the AMP reference implementations drive the humanoid. `torque`: actions scale the effort limits.",
    )
    pd_target_center: Literal["zero", "range_middle"] = Field(
        "zero",
        description="PD target for action 0: the model's reference pose (`zero`: hinge angles 0, standing "
        "straight, arms down) or the middle of each joint range (`range_middle`, IsaacGymEnvs' offset).",
    )
    pd_target_scale: float = Field(
        1.0,
        gt=0,
        description="PD target = center + action x pd_target_scale x half the joint range, clamped to the "
        "joint range (actions are in [-1, 1]).",
    )
    pd_target_mapping: Literal["scaled_range", "per_joint_type"] = Field(
        "scaled_range",
        description="How actions in [-1, 1] become PD targets. `scaled_range`: pd_target_center + action x "
        "pd_target_scale x half the joint range, clamped to the joint range. `per_joint_type` "
        "(IsaacGymEnvs' AMP humanoid; pd_target_center and pd_target_scale are then unused): the three "
        "hinges of a ball joint centre on 0 with a scale of 1.2 x their largest |limit|, at most pi; a "
        "lone hinge centres on the middle of its range with a scale of 0.7 x the range, so its targets "
        "reach past the limits and the servo keeps its strength near them.",
    )
    termination_height: float = Field(0.5, ge=0, description="Episode ends when the pelvis drops below (m).")
    contact_termination_bodies: tuple[str, ...] = Field(
        ("head", "torso", "right_hand", "left_hand"),
        description="Bodies whose floor contact ends the episode (a fall).",
    )
    contact_tolerance: float = Field(
        0.01,
        ge=0,
        description="A termination body's geom whose lowest point is within this height of the floor "
        "touches it (m); computed from geom poses, so it needs no contact pairs.",
    )
    key_bodies: tuple[str, ...] = Field(
        ("right_hand", "left_hand", "right_foot", "left_foot"),
        description="Bodies whose positions (heading frame) enter kinematic AMP features.",
    )
    episode_seconds: float = Field(
        20.0, gt=0, le=MAX_EPISODE_SECONDS, description="Time limit of a training episode (s)."
    )


class ClipRef(Frozen):
    name: str = Field(
        description="Clip name in the data cache, e.g. `deepmimic/walk` or `isaaclab/humanoid_walk`."
    )
    skill: str = Field(description="Skill the clip demonstrates; must have a speed band.")
    weight: float = Field(1.0, gt=0, description="Relative sampling weight.")


class MocapConfig(Frozen):
    clips: tuple[ClipRef, ...] = Field(min_length=1, description="Reference clips for the discriminator.")


class SpeedBand(Frozen):
    skill: str = Field(description="Skill name, matching `ClipRef.skill`.")
    speed: Range = Field(description="Commanded forward speed band (m/s).")
    weight: float = Field(1.0, gt=0, description="Probability weight of commanding this skill.")

    @model_validator(mode="after")
    def _check(self) -> SpeedBand:
        ordered(self.speed, "speed")
        return self


class CommandConfig(Frozen):
    bands: tuple[SpeedBand, ...] = Field(min_length=1, description="Speed band per skill.")
    resample_seconds: float = Field(10.0, gt=0, description="A new command is drawn this often (s).")
    tracking_sigma: float = Field(
        0.25,
        gt=0,
        description="Width of the velocity-tracking reward exp(-(v - v_cmd)^2 / sigma), in (m/s)^2.",
    )
    lateral_weight: float = Field(
        0.25,
        ge=0,
        description="Weight of the sideways-drift penalty exp(-v_left^2 / sigma) - 1 in the task reward "
        "(the forward-speed term has weight 1).",
    )
    alive_bonus: float = Field(
        0.0,
        ge=0,
        description="Task reward for every step the episode goes on (0 in the AMP references, where only "
        "the style reward, always >= 0, pays for staying up; Brax's humanoid pays 5).",
    )


class PushConfig(Frozen):
    """One push definition: a force held for a duration on a named body, reported as an impulse."""

    enabled: bool = Field(False, description="Apply random pushes.")
    force: Range = Field((0.0, 0.0), description="Force magnitude range (N), sampled uniformly.")
    duration: Range = Field((0.1, 0.2), description="Duration range (s) the force is held.")
    probability: float = Field(
        0.0, ge=0, le=1, description="Chance per idle control step (no push under way) that a push starts."
    )
    bodies: tuple[str, ...] = Field(
        ("pelvis", "torso"), min_length=1, description="Bodies a push may act on."
    )
    direction: Literal["horizontal", "3d"] = Field("horizontal", description="Direction sampling.")

    @model_validator(mode="after")
    def _check(self) -> PushConfig:
        ordered(self.force, "force")
        ordered(self.duration, "duration")
        if self.duration[0] <= 0:
            raise ValueError("duration must be > 0 s: a push without duration is no push")
        if self.force[0] < 0 or self.force[1] > MAX_FORCE:
            raise ValueError(f"force must lie in [0, {MAX_FORCE:g}] N, found {list(self.force)}")
        if self.duration[1] > MAX_PUSH_SECONDS:
            raise ValueError(f"duration must be at most {MAX_PUSH_SECONDS:g} s, found {list(self.duration)}")
        return self


class RandomizationConfig(Frozen):
    enabled: bool = Field(False, description="Randomise physics per env at each reset.")
    mass_scale: Range = Field((1.0, 1.0), description="Factor on every body mass.")
    friction: Range = Field((1.0, 1.0), description="Floor sliding friction coefficient.")
    damping_scale: Range = Field((1.0, 1.0), description="Factor on every joint damping.")

    @model_validator(mode="after")
    def _check(self) -> RandomizationConfig:
        for name in ("mass_scale", "friction", "damping_scale"):
            ordered(getattr(self, name), name)
        return self


FeatureSet = Literal["kinematic", "torque_only", "torque_dof", "full"]


class AmpConfig(Frozen):
    """The AMP variant, named in full: every backend runs exactly this one."""

    feature_set: FeatureSet = Field(
        "kinematic",
        description="Discriminator features: kinematic (root + DOF + key bodies), torque_only, "
        "torque_dof (torque + DOF pos/vel), full (torque + kinematic).",
    )
    torque_weight: float = Field(1.0, ge=0, description="Scale on the normalised torque features.")
    loss: Literal["bce", "least_squares"] = Field("bce", description="Discriminator loss.")
    style_reward: Literal["neg_log_one_minus_d", "least_squares"] = Field(
        "neg_log_one_minus_d",
        description="Style reward: -log(1 - sigmoid(d)) (BCE variant) or max(0, 1 - (d-1)^2/4) (LSGAN).",
    )
    grad_penalty: float = Field(5.0, ge=0, description="Gradient-penalty weight on reference samples.")
    grad_penalty_samples: Literal["reference", "reference_and_policy"] = Field(
        "reference",
        description="Where the gradient penalty is taken: on reference samples (IsaacGymEnvs, skrl), or on "
        "reference and policy samples (MimicKit), which bounds the discriminator's logits on policy samples "
        "(imitate_walk's stayed above -4) by flattening it there, and imitated 16-18x less closely "
        "(benchmarks/README.md). With both, the penalty is the sum of the two means.",
    )
    weight_decay: float = Field(
        0.0,
        ge=0,
        description="L2 weight on every discriminator weight matrix, added to its loss (IsaacGymEnvs' "
        "disc_weight_decay 1e-4 with Adam; MimicKit 1e-4 as SGD weight decay); 0 for none.",
    )
    constant_feature_std: float = Field(
        1e-6,
        ge=0,
        description="AMP feature columns whose standard deviation over the reset pool's reference draw is "
        "below this are masked (weight 0) and named when training starts: a column the clips never move "
        "(the DeepMimic walk's neck) tells policy from clip perfectly. 0 masks none.",
    )
    grad_penalty_fraction: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Share of each minibatch's reference rows the gradient penalty is computed on (its "
        "second backward pass is most of the discriminator's cost; the rows are shuffled, so a share is "
        "an unbiased estimate of the full penalty). 0.25 with 2 epochs: the phase-2 update at 256 envs ran "
        "1.32x faster than with 1.0 and 4 epochs on a 2-core CPU, and the learning test kept its margin "
        "(docs/speed.md).",
    )
    logit_reg: float = Field(0.05, ge=0, description="L2 weight on the discriminator's output layer.")
    history: int = Field(2, ge=1, description="Consecutive frames per discriminator observation.")
    task_reward_scale: float = Field(0.5, ge=0, description="Weight of the velocity-tracking reward.")
    style_reward_scale: float = Field(0.5, ge=0, description="Weight of the discriminator reward.")
    replay_size: int = Field(100_000, ge=1, description="Replay buffer of policy AMP observations.")
    replay_updates: int = Field(
        8,
        ge=1,
        description="Each rollout adds replay_size / replay_updates random samples to the replay buffer, so "
        "the buffer spans about this many past policies.",
    )
    learning_rate: float = Field(1e-4, gt=0, description="Discriminator Adam learning rate.")
    hidden: tuple[Width, ...] = Field((512, 256), description="Discriminator hidden layer sizes (each >= 1).")
    epochs: int = Field(
        2,
        ge=1,
        description="Discriminator passes over each rollout's policy samples (its own, not PPO's). 2: with "
        "4 (16 Adam steps per update) the learning check's discriminator was certain within 100k steps; "
        "with `grad_penalty_fraction` 0.25 the phase-2 update ran 1.32x faster than 4 epochs with the "
        "full penalty (docs/speed.md).",
    )
    minibatches: int = Field(
        4,
        ge=1,
        description="Discriminator minibatches per pass; each holds rollout/minibatches fresh and as many "
        "replayed policy samples against twice as many reference samples.",
    )
    reference_torques: Literal["noisy_policy", "deterministic_policy"] = Field(
        "noisy_policy",
        description="How torque-motion reference clips were recorded (`ampbench collect --action-noise`): "
        "with the recording policy's own action noise, as the trained policy's torques carry it (else the "
        "discriminator can tell the two apart by white noise alone), or from the deterministic mean. "
        "Checked against the clips' `action_noise` for torque feature sets.",
    )

    @model_validator(mode="after")
    def _check(self) -> AmpConfig:
        pairs = {"bce": "neg_log_one_minus_d", "least_squares": "least_squares"}
        if pairs[self.loss] != self.style_reward:
            raise ValueError(
                f"style_reward '{self.style_reward}' does not match loss '{self.loss}' "
                f"(expected '{pairs[self.loss]}'): the reward must read the discriminator as it was trained"
            )
        return self


class LogStdAnneal(Frozen):
    """A falling exploration noise: wide while the policy learns to stay up, narrow once it walks, so the
    discriminator stops telling policy from clip by the noise alone."""

    end: float = Field(
        description="Log std of the policy reached at `env_steps` and kept after it (exp(-2.9) = 0.055, "
        "the fixed value of IsaacGymEnvs' AMP; MimicKit fixes 0.05)."
    )
    env_steps: int = Field(
        gt=0, description="Env steps over which the log std goes linearly from `ppo.init_log_std` to `end`."
    )


class PpoConfig(Frozen):
    learning_rate: float = Field(
        3e-4,
        ge=0,
        description="Policy/value Adam learning rate (the starting one under `adaptive_kl`); 0 with "
        "`fixed` freezes the networks (a control run).",
    )
    learning_rate_schedule: Literal["fixed", "adaptive_kl"] = Field(
        "fixed",
        description="`adaptive_kl` (rsl_rl's rule): after each minibatch's KL estimate, divide the rate by "
        "1.5 when KL > 2 x desired_kl, multiply it by 1.5 when KL < desired_kl / 2, within "
        "learning_rate_range. With a small fixed std a fixed rate easily moves the policy too far.",
    )
    desired_kl: float = Field(0.01, gt=0, description="Target KL per minibatch step for `adaptive_kl`.")
    learning_rate_range: Range = Field(
        (1e-5, 1e-2), description="Bounds of the learning rate under `adaptive_kl`."
    )
    rollout_steps: int = Field(32, ge=1, description="Control steps per env between updates.")
    epochs: int = Field(4, ge=1, description="Passes over each rollout.")
    minibatches: int = Field(4, ge=1, description="Minibatches per epoch.")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount.")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda.")
    clip: float = Field(0.2, gt=0, description="PPO ratio clip.")
    entropy: float = Field(0.0, ge=0, description="Entropy bonus weight.")
    value_coef: float = Field(0.5, ge=0, description="Value loss weight.")
    max_grad_norm: float = Field(1.0, gt=0, description="Global gradient-norm clip.")
    init_log_std: float = Field(
        -2.9, description="Log std of the Gaussian policy (exp(-2.9) = 0.055, IsaacGymEnvs' AMP value)."
    )
    learn_log_std: bool = Field(
        False, description="Train the log std (else it stays at init_log_std, as the AMP references do)."
    )
    log_std_anneal: LogStdAnneal | None = Field(
        None,
        description="Anneal the (not learned) log std from init_log_std on this schedule; None keeps it "
        "at init_log_std, or learns it with learn_log_std.",
    )
    bounds_loss: float = Field(
        10.0,
        ge=0,
        description="Weight of the penalty sum(max(|mean| - 1, 0)^2) that keeps the action mean inside the "
        "action range [-1, 1] (IsaacGymEnvs' bounds loss, weight 10).",
    )
    normalize_values: bool = Field(
        True, description="Value network predicts returns z-scored by running statistics of the returns."
    )
    observation_clip: float = Field(
        5.0, gt=0, description="Normalised policy and AMP observations are clipped to +-this."
    )
    hidden: tuple[Width, ...] = Field(
        (512, 256), description="Policy and value hidden layer sizes (each >= 1)."
    )

    @model_validator(mode="after")
    def _one_std_rule(self) -> PpoConfig:
        if self.learn_log_std and self.log_std_anneal is not None:
            raise ValueError(
                "learn_log_std and log_std_anneal exclude each other: the std is learned or "
                "scheduled, not both"
            )
        return self


class TrainingConfig(Frozen):
    envs: int = Field(4096, ge=1, description="Parallel environments.")
    steps: int = Field(100_000_000, ge=1, description="Total env steps (control steps x envs).")
    seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1, description="Training seeds; one run each.")
    checkpoint_every: int = Field(50, ge=1, description="Updates between checkpoints.")
    reset_states: int = Field(
        4096,
        ge=1,
        description="Reference states drawn from the clips once per run for reference-state initialisation.",
    )

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        return unique(seeds, "training.seeds")


class ExperimentCard(Frozen):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=100,
        description="Card identifier; results and runs are filed in a folder of this name (letters, digits, "
        "`_`, `.`, `-`; no path).",
    )
    phase: Literal["baseline", "phase1", "phase2", "phase3", "torque"] = Field(description="Benchmark phase.")
    description: str = Field(description="What the card measures, in a sentence or two.")
    backend: Literal[BACKENDS] = Field(
        "mjx",
        description="Backend when a command names none: mjx (JAX; GPU), mujoco (MuJoCo C on CPU threads), "
        "isaaclab. A card that leaves it out runs on mjx where JAX has a GPU and on mujoco otherwise (a "
        "resolved copy, as `cards show` prints it, names mjx and so runs on mjx).",
    )
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig, description="Physics settings.")
    humanoid: HumanoidConfig = Field(default_factory=HumanoidConfig, description="Robot and termination.")
    mocap: MocapConfig = Field(description="Reference motion set.")
    commands: CommandConfig = Field(description="Velocity commands per skill.")
    training_pushes: PushConfig = Field(default_factory=PushConfig, description="Random pushes in training.")
    randomization: RandomizationConfig = Field(
        default_factory=RandomizationConfig, description="Domain randomisation."
    )
    amp: AmpConfig = Field(default_factory=AmpConfig, description="Discriminator and reward mix.")
    ppo: PpoConfig = Field(default_factory=PpoConfig, description="Policy optimisation.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Budget and seeds.")
    evaluation: EvalConfig = Field(default_factory=EvalConfig, description="Scoring protocol.")
    overlays: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Card-specific named dotted-key patches; they take precedence over benchmarks/overlays/.",
    )
    trainer: Literal["ampbench", "skrl"] = Field(
        "ampbench",
        description="Who trains: the project's PPO + AMP trainer (every backend), or skrl 2.x's AMP as an "
        "independent cross-check (isaaclab backend only; `learning/skrl_amp.py` maps the card onto it, "
        "refuses what it cannot run and lists where it differs); its last policy is scored from a "
        "framework-neutral policy file (`learning/policy_file.py`).",
    )

    @model_validator(mode="after")
    def _skills_have_bands(self) -> ExperimentCard:
        banded = {band.skill for band in self.commands.bands}
        missing = sorted({clip.skill for clip in self.mocap.clips} - banded)
        if missing:
            raise ValueError(
                f"clip skills {missing} have no speed band in commands.bands (have {sorted(banded)})"
            )
        return self

    def content_hash(self) -> str:
        """Hash of the resolved card (overlays applied), so provenance names exactly what ran."""
        return data_hash(self.model_dump(mode="json"))


def data_hash(data: dict[str, Any]) -> str:
    """`content_hash` of a card's JSON data as stored: a run folder written before a card field was
    added keeps its hash, so it still loads (the new field takes its default)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
