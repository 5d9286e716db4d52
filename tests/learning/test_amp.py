"""AMP discriminator: label convention vs. style reward, hand-checked penalties, reward before the update,
the normaliser on both classes, replay."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ampbench.cards import AmpConfig
from ampbench.learning import normalizer
from ampbench.learning.amp import (
    AmpState,
    amp_init,
    amp_update,
    discriminator_input,
    discriminator_loss,
    discriminator_step,
    gradient_penalty,
    replay_init,
    replay_insert,
    replay_sample,
    style_rewards,
)
from ampbench.learning.networks import init_discriminator

VARIANTS = [("bce", "neg_log_one_minus_d"), ("least_squares", "least_squares")]


def two_clouds(key, n=64):
    """Reference samples around (+1, +1), policy samples around (-1, -1)."""
    ref_key, pol_key = jax.random.split(key)
    ref = 1.0 + 0.3 * jax.random.normal(ref_key, (n, 2))
    policy = -1.0 + 0.3 * jax.random.normal(pol_key, (n, 2))
    return ref, policy


@pytest.mark.parametrize(("loss", "reward"), VARIANTS)
def test_trained_discriminator_gives_reference_the_higher_style_reward(loss, reward):
    config = AmpConfig(loss=loss, style_reward=reward, hidden=(16,), learning_rate=1e-2, replay_size=8)
    state = amp_init(jax.random.key(0), config, amp_observation_size=2)
    ref, policy = two_clouds(jax.random.key(1))
    step = jax.jit(discriminator_step, static_argnums=(3, 4))
    for _ in range(30):
        state, metrics = step(state, ref, policy, config, 5.0)
    assert float(metrics["disc/accuracy_reference"]) == 1.0
    assert float(metrics["disc/accuracy_policy"]) == 1.0
    ref_reward = style_rewards(state.discriminator, config, ref)
    policy_reward = style_rewards(state.discriminator, config, policy)
    assert float(ref_reward.min()) > float(policy_reward.max())


def linear_discriminator(config: AmpConfig, w, b: float) -> dict:
    """D(x) = w . x + b: with no hidden layers the output layer is the whole discriminator."""
    assert config.hidden == ()
    return {
        "params": {"logit": {"kernel": jnp.asarray(w, dtype=jnp.float32)[:, None], "bias": jnp.array([b])}}
    }


def test_gradient_penalty_of_a_linear_discriminator_is_its_weight_norm():
    config = AmpConfig(hidden=(), grad_penalty=5.0, logit_reg=0.05)
    params = linear_discriminator(config, [3.0, -4.0], 0.5)
    x = jax.random.normal(jax.random.key(0), (7, 2))
    np.testing.assert_allclose(gradient_penalty(params, config, x), 25.0, rtol=1e-6)
    loss, metrics = discriminator_loss(params, x, -x, config)
    expected = float(metrics["disc/classification_loss"]) + 5.0 * 25.0 + 0.05 * 25.0
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_gradient_penalty_on_a_share_of_rows_is_the_penalty_of_those_rows():
    config = AmpConfig(hidden=(8,), grad_penalty_fraction=0.25)
    params = init_discriminator(jax.random.key(1), config, 3)
    x = jax.random.normal(jax.random.key(0), (10, 3))
    full = AmpConfig(hidden=(8,), grad_penalty_fraction=1.0)
    share = gradient_penalty(params, config, x)
    np.testing.assert_allclose(share, gradient_penalty(params, full, x[:3]), rtol=1e-6)  # ceil(2.5) rows
    assert not np.isclose(share, gradient_penalty(params, full, x))


def test_policy_logit_spread_is_the_spread_of_the_policy_samples_logits():
    """A linear discriminator's logit is x0: policy rows at -5, -4, -3 have spread sqrt(2/3), whatever the
    reference rows are."""
    config = AmpConfig(hidden=(), grad_penalty=0.0, logit_reg=0.0)
    params = linear_discriminator(config, [1.0, 0.0], 0.0)
    policy = jnp.array([[-5.0, 0.0], [-4.0, 0.0], [-3.0, 0.0]])
    _, metrics = discriminator_loss(params, jnp.array([[2.0, 0.0], [9.0, 0.0]]), policy, config)
    np.testing.assert_allclose(metrics["disc/logit_policy"], -4.0, rtol=1e-6)
    np.testing.assert_allclose(metrics["disc/logit_policy_std"], math.sqrt(2.0 / 3.0), rtol=1e-6)


@pytest.mark.parametrize(
    ("loss", "reward", "expected"),
    [
        # logits: reference 2, policy -1
        ("bce", "neg_log_one_minus_d", 0.5 * (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)))),
        ("least_squares", "least_squares", 0.5 * ((2.0 - 1.0) ** 2 + (-1.0 + 1.0) ** 2)),
    ],
)
def test_classification_loss_by_hand(loss, reward, expected):
    config = AmpConfig(loss=loss, style_reward=reward, hidden=(), grad_penalty=0.0, logit_reg=0.0)
    params = linear_discriminator(config, [1.0, 0.0], 0.0)
    value, metrics = discriminator_loss(params, jnp.array([[2.0, 0.0]]), jnp.array([[-1.0, 0.0]]), config)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(metrics["disc/logit_reference"], 2.0, rtol=1e-6)


def test_style_reward_comes_from_the_discriminator_before_its_update():
    """As in IsaacGymEnvs, MimicKit and skrl: the reward of a rollout is read before the discriminator
    trains on that rollout; then it takes epochs x minibatches steps and its normaliser sees both classes."""
    config = AmpConfig(hidden=(16,), learning_rate=1e-2, replay_size=256, epochs=2, minibatches=4)
    state: AmpState = amp_init(jax.random.key(0), config, amp_observation_size=2)
    state = state.replace(amp_stats=normalizer.update(state.amp_stats, jnp.ones((4, 2))))
    ref, policy = two_clouds(jax.random.key(1), n=32)
    reference = jnp.concatenate([ref, ref + 0.01])
    new_state, rewards, metrics = amp_update(
        state, policy, reference, jax.random.key(2), config, obs_clip=5.0
    )
    assert int(optax.tree_utils.tree_get(new_state.opt_state, "count")) == 8
    before = style_rewards(state.discriminator, config, discriminator_input(state, policy, 5.0))
    np.testing.assert_allclose(rewards, before, rtol=1e-6)
    after = style_rewards(new_state.discriminator, config, discriminator_input(new_state, policy, 5.0))
    assert float(jnp.max(jnp.abs(rewards - after))) > 1e-3
    assert float(new_state.amp_stats.count) == 4.0 + 32.0 + 64.0
    everything = jnp.concatenate([jnp.ones((4, 2)), policy, reference])
    np.testing.assert_allclose(new_state.amp_stats.mean, everything.mean(axis=0), rtol=1e-5)
    assert int(new_state.replay.filled) == 32
    assert "disc/grad_penalty" in metrics


def test_amp_update_wants_two_reference_samples_per_policy_sample():
    config = AmpConfig(hidden=(8,), replay_size=16)
    state = amp_init(jax.random.key(0), config, amp_observation_size=2)
    ref, policy = two_clouds(jax.random.key(1), n=32)
    with pytest.raises(ValueError, match=r"reference_amp_obs must have shape \(64, 2\)"):
        amp_update(state, policy, ref, jax.random.key(2), config, obs_clip=5.0)


def test_replay_keeps_a_share_of_each_rollout_so_it_spans_several_policies():
    config = AmpConfig(hidden=(8,), replay_size=16, replay_updates=8, epochs=1, minibatches=2)
    state = amp_init(jax.random.key(0), config, amp_observation_size=2)
    ref, policy = two_clouds(jax.random.key(1), n=32)
    reference = jnp.concatenate([ref, ref])
    new_state, _, _ = amp_update(state, policy, reference, jax.random.key(2), config, obs_clip=5.0)
    assert int(new_state.replay.filled) == 16 // 8


def test_feature_weights_scale_normalised_inputs_per_column():
    config = AmpConfig(hidden=(8,))
    state = amp_init(jax.random.key(0), config, amp_observation_size=2, feature_weights=jnp.array([1.0, 3.0]))
    state = state.replace(amp_stats=normalizer.update(state.amp_stats, jnp.array([[0.0, 0.0], [2.0, 4.0]])))
    x = jnp.array([[2.0, 4.0]])
    np.testing.assert_allclose(
        discriminator_input(state, x, 5.0),
        normalizer.normalize(state.amp_stats, x, 5.0) * jnp.array([1.0, 3.0]),
    )
    with pytest.raises(ValueError, match=r"feature_weights must have shape \(2,\)"):
        amp_init(jax.random.key(0), config, amp_observation_size=2, feature_weights=jnp.ones(3))


def rows(start: int, count: int) -> jnp.ndarray:
    return jnp.arange(start, start + count, dtype=jnp.float32)[:, None]


def test_replay_buffer_wraps_around_overwriting_the_oldest():
    buffer = replay_insert(replay_init(4, 1), rows(0, 3))
    buffer = replay_insert(buffer, rows(3, 3))  # 3 -> slot 3, 4 -> slot 0, 5 -> slot 1
    np.testing.assert_array_equal(buffer.data[:, 0], [4.0, 5.0, 2.0, 3.0])
    assert int(buffer.insert_at) == 2
    assert int(buffer.filled) == 4


def test_replay_buffer_keeps_the_newest_rows_of_an_oversized_batch():
    buffer = replay_insert(replay_insert(replay_init(4, 1), rows(0, 1)), rows(10, 6))
    # rows 10..15 start at slot 1; only 12..15 survive, in slots 3, 0, 1, 2
    np.testing.assert_array_equal(buffer.data[:, 0], [13.0, 14.0, 15.0, 12.0])
    assert int(buffer.insert_at) == 3


def test_replay_sampling_is_uniform_over_filled_rows_and_keyed():
    buffer = replay_insert(replay_init(8, 1), rows(1, 2))
    samples = replay_sample(buffer, jax.random.key(0), 1000)[:, 0]
    assert set(np.unique(np.asarray(samples)).tolist()) == {1.0, 2.0}
    assert abs(float(jnp.mean(samples == 1.0)) - 0.5) < 0.06
    np.testing.assert_array_equal(samples, replay_sample(buffer, jax.random.key(0), 1000)[:, 0])


def test_replay_insert_rejects_rows_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"\(B, 3\), found \(5, 2\)"):
        replay_insert(replay_init(4, 3), jnp.zeros((5, 2)))
