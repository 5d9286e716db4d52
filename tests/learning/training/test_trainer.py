"""The MJX trainer end to end on a tiny pure-JAX point mass: it learns, resumes exactly, stops on NaN, logs.

The point mass must match a target velocity drawn per episode; it "falls" (terminal) when it moves too
fast and is truncated at a time limit, so both episode ends occur. Its AMP observation is two consecutive
velocities; reference samples are smooth velocity pairs.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from ampbench.cards import card_from_dict
from ampbench.core.curves import read_scalars
from ampbench.core.runs import RunError, latest_checkpoint
from ampbench.learning import policy_file
from ampbench.learning.loop import train
from ampbench.learning.networks import policy_distribution
from ampbench.learning.normalizer import normalize
from ampbench.learning.policy import export_policy, load_policy
from ampbench.learning.update import TrainingDiverged, reset_envs, schedule, update_keys


@struct.dataclass
class PointState:
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    amp_obs: jax.Array
    final_obs: jax.Array
    metrics: dict
    info: dict


class PointMassTask:
    """What the trainer reads of an env's task: the reference draws and the columns the clips never move
    (none here)."""

    constant_amp_columns: tuple[str, ...] = ()
    constant_amp_mask = np.zeros(2, bool)

    def __init__(self, env):
        self.reference_amp_observations = env.reference_amp_observations


@jax.tree_util.register_static  # a JaxEnv is a pytree; this one has no arrays worth passing as leaves
class PointMassEnv:
    """vel' = 0.8 vel + 0.4 action; reward exp(-4 (vel' - target)^2); falls when |vel| > 1.5."""

    observation_size = 3
    action_size = 1
    amp_observation_size = 2
    amp_feature_weights = jnp.ones(2)

    def __init__(self, horizon: int = 32, poison: bool = False):
        self.horizon = horizon
        self.poison = poison
        self.task = PointMassTask(self)

    def _observe(self, vel, target):
        obs = jnp.stack([vel, target, target - vel])
        return obs * jnp.nan if self.poison else obs

    def reset(self, key):
        key, target_key = jax.random.split(key)
        target = jax.random.uniform(target_key, (), minval=-1.0, maxval=1.0)
        vel = jnp.zeros(())
        obs = self._observe(vel, target)
        zero = jnp.zeros(())
        info = {"key": key, "vel": vel, "target": target, "step": jnp.zeros((), jnp.int32)}
        return PointState(obs, zero, zero, zero, jnp.zeros(2), obs, {"tracking": zero}, info)

    def step(self, state, action):
        info = state.info
        vel = 0.8 * info["vel"] + 0.4 * action[0]
        reward = jnp.exp(-4.0 * (vel - info["target"]) ** 2)
        step = info["step"] + 1
        fell = jnp.abs(vel) > 1.5
        truncated = (step >= self.horizon) & ~fell
        done = fell | truncated
        obs = self._observe(vel, info["target"])
        key, reset_key = jax.random.split(info["key"])
        fresh = self.reset(reset_key)
        stepped = {"key": key, "vel": vel, "target": info["target"], "step": step}
        return PointState(
            obs=jnp.where(done, fresh.obs, obs),
            reward=reward,
            done=done.astype(jnp.float32),
            truncated=truncated.astype(jnp.float32),
            amp_obs=jnp.stack([info["vel"], vel]),
            final_obs=obs,
            metrics={"tracking": reward},
            info=jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), fresh.info, stepped),
        )

    def reference_amp_observations(self, rng, n, skill=None):
        v = rng.uniform(-1.0, 1.0, n)
        return np.stack([v, 0.9 * v + 0.02 * rng.normal(size=n)], axis=1).astype(np.float32)


class HostPointMass:
    """The point mass behind the `BatchedEnv` seam: the same env, stepped one batch at a time from the host
    (as MuJoCo C and Isaac Lab are), so its training must equal the fused path's update for update."""

    def __init__(self, envs: int):
        self.env = PointMassEnv()
        self.num_envs = envs
        self.observation_size, self.action_size = self.env.observation_size, self.env.action_size
        self.amp_observation_size = self.env.amp_observation_size
        self.amp_feature_weights = np.asarray(self.env.amp_feature_weights)
        self._step = jax.jit(jax.vmap(self.env.step))
        self.reference_amp_observations = self.env.reference_amp_observations
        self.task = self.env.task

    def reset(self, seed: int) -> np.ndarray:
        self.state = reset_envs(self.env, self.num_envs, update_keys(seed, 0)[0]).env_state
        return np.asarray(self.state.obs)

    def step(self, actions: np.ndarray):
        self.state = self._step(self.state, jnp.asarray(actions))
        return jax.device_get(self.state.replace(info={}))

    def state_dict(self):
        return self.state

    def load_state_dict(self, saved) -> None:
        self.state = saved


def make_card(*overrides: str):
    data = {
        "name": "pointmass",
        "phase": "baseline",
        "description": "Trainer test on a point mass.",
        "mocap": {"clips": [{"name": "fake/walk", "skill": "walk"}]},
        "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
    }
    small = (
        "training.seeds=[0, 1]",
        "ppo.hidden=[32, 32]",
        "amp.hidden=[32, 32]",
        "amp.replay_size=2048",
        "amp.task_reward_scale=1.0",
        "amp.style_reward_scale=0.2",
        "amp.learning_rate=0.0003",
        "ppo.learning_rate=0.001",
        "ppo.init_log_std=-1.0",
        "ppo.learn_log_std=true",
    )
    return card_from_dict(data, overrides=small + overrides)


LEARN = ("training.envs=32", "training.steps=20480", "training.checkpoint_every=10", "ppo.rollout_steps=16")
SHORT = ("training.envs=16", "ppo.rollout_steps=8", "training.checkpoint_every=2")


def short_card(updates: int):
    return make_card(*SHORT, f"training.steps={updates * 16 * 8}")


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("learn")
    return run_dir, train(PointMassEnv(), make_card(*LEARN), seed=0, run_dir=run_dir, resume=False)


def test_training_improves_the_task_reward(learned):
    _, result = learned
    assert result.updates == 40
    first = result.history[0]["reward/task"]
    last = np.mean([h["reward/task"] for h in result.history[-5:]])
    assert last > 0.8
    assert last > first + 0.25


def test_checkpoints_every_n_updates_and_at_the_end(learned):
    run_dir, result = learned
    names = sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt_*.msgpack"))
    assert names == [f"ckpt_{u:06d}.msgpack" for u in (30, 40)]  # the newest two; every policy file stays
    policies = sorted(p.name for p in (run_dir / "checkpoints").glob("policy_*.npz"))
    assert policies == [f"policy_{u:06d}.npz" for u in (10, 20, 30, 40)]
    assert result.checkpoint == latest_checkpoint(run_dir) == run_dir / "checkpoints" / "ckpt_000040.msgpack"


def test_tensorboard_event_file_holds_the_logged_scalars(learned):
    run_dir, result = learned
    assert len(list((run_dir / "tb").glob("events.out.tfevents.*"))) == 1
    scalars = read_scalars(run_dir)
    expected = {
        "reward/task", "reward/style", "episode/task_return", "episode/length", "disc/accuracy_reference",
        "disc/accuracy_policy", "disc/logit_reference", "disc/logit_policy", "disc/logit_policy_std",
        "disc/loss", "disc/grad_penalty",
        "ppo/policy_loss", "ppo/value_loss", "ppo/approx_kl", "ppo/action_std", "ppo/bounds_loss",
        "perf/steps_per_second", "perf/wall_steps_per_second", "env/tracking",
    }  # fmt: skip
    assert expected <= set(scalars)
    steps, values = scalars["reward/task"]
    assert steps[-1] == result.env_steps and len(values) == result.updates


def test_exported_policy_is_the_trained_mean_action(learned):
    _, result = learned
    obs = jnp.array([[0.0, 0.5, 0.5], [0.2, -0.7, -0.9]])
    act = load_policy(result.checkpoint)(obs)
    config = make_card(*LEARN).ppo
    mean, _ = policy_distribution(
        result.state.actor_critic["policy"], config, normalize(result.state.obs_stats, obs, 5.0)
    )
    np.testing.assert_allclose(act, jnp.clip(mean, -1, 1), rtol=1e-6, atol=1e-7)
    _, params, stats = export_policy(result.checkpoint)
    np.testing.assert_array_equal(stats.mean, result.state.obs_stats.mean)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        result.state.actor_critic["policy"]
    )


def test_a_wrong_shaped_policy_leaf_is_refused_naming_the_leaf(learned, tmp_path):
    import flax.serialization

    from ampbench.learning.checkpoint import read_checkpoint
    from ampbench.learning.policy import POLICY_CONFIG

    _, result = learned
    payload = read_checkpoint(result.checkpoint)
    kernel = payload["state"]["actor_critic"]["policy"]["params"]["torso"]["hidden_0"]["kernel"]
    payload["state"]["actor_critic"]["policy"]["params"]["torso"]["hidden_0"]["kernel"] = kernel[:, :-1]
    damaged = tmp_path / result.checkpoint.name
    damaged.write_bytes(flax.serialization.msgpack_serialize(payload))
    (tmp_path / POLICY_CONFIG).write_bytes((result.checkpoint.parent / POLICY_CONFIG).read_bytes())
    with pytest.raises(RunError, match=r"policy leaf params/torso/hidden_0/kernel has shape \(3, \d+\)"):
        load_policy(damaged)


class Interrupt(Exception):
    pass


def stop_after(env_steps: int):
    def progress(step: int, metrics: dict[str, float]) -> None:
        if step >= env_steps:
            raise Interrupt

    return progress


def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(tmp_path):
    card, env = short_card(updates=6), PointMassEnv()
    per_update, _ = schedule(card)
    whole = train(env, card, seed=1, run_dir=tmp_path / "whole", resume=False)
    with pytest.raises(Interrupt):  # dies after update 3; its last checkpoint is from update 2
        train(
            env, card, seed=1, run_dir=tmp_path / "cut", resume=False, progress_fn=stop_after(3 * per_update)
        )
    assert latest_checkpoint(tmp_path / "cut").name == "ckpt_000002.msgpack"
    resumed = train(env, card, seed=1, run_dir=tmp_path / "cut", resume=True)
    assert len(resumed.history) == 4
    for a, b in zip(
        jax.tree_util.tree_leaves(whole.state), jax.tree_util.tree_leaves(resumed.state), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.checkpoint.read_bytes() == whole.checkpoint.read_bytes()


def test_resume_repairs_what_a_kill_left_and_keeps_one_curve(tmp_path):
    """A kill between moving `latest` and writing the policy file (here: truncated), mid atomic write
    (a stray .tmp), and after logging updates past the checkpoint: resume rewrites the policy file,
    removes the orphan, and the curves read as one run with no step twice."""
    card, env = short_card(updates=6), PointMassEnv()
    per_update, _ = schedule(card)
    with pytest.raises(Interrupt):
        train(env, card, seed=1, run_dir=tmp_path, resume=False, progress_fn=stop_after(3 * per_update))
    policy = tmp_path / "checkpoints" / "policy_000002.npz"
    policy.write_bytes(policy.read_bytes()[:100])
    (tmp_path / "checkpoints" / ".ckpt_000004.msgpack.abc.tmp").write_bytes(b"half")
    time.sleep(1.1)  # a new event file name
    train(env, card, seed=1, run_dir=tmp_path, resume=True)
    assert policy_file.read(policy) and not list((tmp_path / "checkpoints").glob(".*.tmp"))
    steps, _ = read_scalars(tmp_path)["reward/task"]
    assert steps.tolist() == [per_update * u for u in range(1, 7)]


def test_checkpoints_keep_the_env_batch_so_episodes_run_across_them(tmp_path):
    """8 steps per update, checkpoints every 2 updates, 32-step episodes: a reset at each checkpoint would
    cap every episode at 16 steps."""
    card = short_card(updates=8)
    result = train(PointMassEnv(), card, seed=0, run_dir=tmp_path, resume=False)
    saved = sorted(p.name for p in (tmp_path / "checkpoints").glob("envs_*.msgpack"))
    assert saved == ["envs_000006.msgpack", "envs_000008.msgpack"]  # the newest two are kept
    lengths = [h["episode/length"] for h in result.history if "episode/length" in h]
    assert max(lengths) > 16


def test_a_wall_clock_budget_stops_with_a_checkpoint_that_resumes(tmp_path):
    card = short_card(updates=50)
    stopped = train(PointMassEnv(), card, seed=0, run_dir=tmp_path, resume=False, minutes=0.0)
    assert stopped.updates == 1
    assert latest_checkpoint(tmp_path).name == "ckpt_000001.msgpack"
    assert (tmp_path / "checkpoints" / "envs_000001.msgpack").is_file()
    resumed = train(PointMassEnv(), card, seed=0, run_dir=tmp_path, resume=True, minutes=0.0)
    assert resumed.updates == 2 and latest_checkpoint(tmp_path).name == "ckpt_000002.msgpack"


def test_nan_from_the_env_stops_training_and_keeps_the_checkpoint(tmp_path):
    train(PointMassEnv(), short_card(updates=2), seed=0, run_dir=tmp_path, resume=False)
    good = latest_checkpoint(tmp_path)
    saved = good.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"update 2: .*env observations"):
        train(PointMassEnv(poison=True), short_card(updates=4), seed=0, run_dir=tmp_path, resume=True)
    assert latest_checkpoint(tmp_path) == good
    assert good.read_bytes() == saved
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt_*")) == ["ckpt_000002.msgpack"]
    action = load_policy(good)(jnp.zeros(3))
    assert bool(jnp.all(jnp.isfinite(action)))


def test_a_fresh_run_refuses_a_folder_with_checkpoints_and_resume_checks_the_seed(learned):
    run_dir, _ = learned
    with pytest.raises(RunError, match="holds checkpoints already"):
        train(PointMassEnv(), make_card(*LEARN), seed=0, run_dir=run_dir, resume=False)
    with pytest.raises(RunError, match="seed 0, resumed with seed 1"):
        train(PointMassEnv(), make_card(*LEARN), seed=1, run_dir=run_dir, resume=True)
    with pytest.raises(ValueError, match=r"seed 7 is not one of training.seeds \[0, 1\]"):
        train(PointMassEnv(), make_card(*LEARN), seed=7, run_dir=run_dir, resume=True)


def _assert_same_leaves(a, b, **tolerance) -> None:
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tolerance)


def test_the_host_loop_gives_the_fused_update_from_the_same_transitions(tmp_path):
    """Same seed, same env: the host loop (policy jitted, env stepped per batch, learning step compiled
    apart) reaches the fused path's parameters after 4 updates, to float rounding of separate compiles."""
    card = short_card(updates=4)
    fused = train(PointMassEnv(), card, seed=0, run_dir=tmp_path / "fused", resume=False)
    host = train(HostPointMass(16), card, seed=0, run_dir=tmp_path / "host", resume=False)
    _assert_same_leaves(fused.state, host.state, rtol=2e-4, atol=2e-6)
    for f, h in zip(fused.history, host.history, strict=True):
        assert f["reward/task"] == pytest.approx(h["reward/task"], rel=1e-5)


def test_a_host_loop_run_resumed_from_its_checkpoint_equals_the_uninterrupted_run(tmp_path):
    card = short_card(updates=5)
    per_update, _ = schedule(card)
    whole = train(HostPointMass(16), card, seed=1, run_dir=tmp_path / "whole", resume=False)
    with pytest.raises(Interrupt):
        train(
            HostPointMass(16),
            card,
            seed=1,
            run_dir=tmp_path / "cut",
            resume=False,
            progress_fn=stop_after(3 * per_update),
        )
    resumed = train(HostPointMass(16), card, seed=1, run_dir=tmp_path / "cut", resume=True)
    _assert_same_leaves(whole.state, resumed.state, rtol=0, atol=0)
