"""Score documents from synthetic rollouts: contents, expectations, determinism, file round trips."""

import dataclasses
import gc
import json
import weakref

import numpy as np
import pytest

from ampbench.scoring.falls import fall_step_of
from ampbench.scoring.metrics import SuccessRow
from ampbench.scoring.score import ScoreError, _max_impulse, score_rollouts
from ampbench.scoring.score_files import PROVENANCE_KEYS, load_scores, write_scores
from tests.rolloutfactory import SMALL_EVALUATION, protocol_rollouts, small_card

PROVENANCE = {
    "card_hash": "0123456789abcdef",
    "commit": "abc123",
    "versions": {"numpy": "2"},
    "hardware": "test",
    "checkpoint_sha256": "0" * 64,
    "device": "cpu",
}


def card_with(expectations):
    return small_card(evaluation={**SMALL_EVALUATION, "expectations": expectations})


@pytest.fixture(scope="module")
def scored():
    card = small_card()
    rollouts = protocol_rollouts(card, failure_impulse=8.0, rng=np.random.default_rng(0))
    return card, rollouts, score_rollouts(card, rollouts)


def test_document_holds_every_metric_with_intervals(scored):
    _, _, doc = scored
    assert doc["card"] == "mini" and doc["phase"] == "phase2"
    assert doc["protocol"]["eval_seeds"] == [100, 101]
    episode = doc["episode_seconds"]
    for stat in ("mean", "iqm"):
        assert episode[stat]["low"] <= episode[stat]["point"] <= episode[stat]["high"]
    assert episode["n"] == 16
    assert set(episode["per_seed_mean"]) == {"100", "101"}
    assert episode["km"]["times"][0] == 0.0 and episode["km"]["survival"][0] == 1.0
    assert doc["tracking_error"]["mean"]["point"] == pytest.approx(0.2)
    assert doc["tracking_error_by_skill"]["walk"]["mean"]["point"] == pytest.approx(0.2)
    assert doc["imitation_error"] is None
    json.dumps(doc, allow_nan=False)


def test_push_cells_and_curve(scored):
    _, _, doc = scored
    assert len(doc["push_cells"]) == 3 * 2
    cell = next(c for c in doc["push_cells"] if c["force"] == 200.0 and c["azimuth_deg"] == 90.0)
    assert cell["impulse"] == pytest.approx(20.0)
    assert cell["delta_v"] == pytest.approx(20.0 / 50.0)
    assert cell["n"] == 16 and cell["invalid"] == 0
    rates = {entry["force"]: entry["success"]["point"] for entry in doc["push_success"]}
    assert rates[0.0] == 1.0
    assert rates[200.0] < 0.2
    assert doc["max_impulse_survived"]["threshold"] == 0.9
    # 50 N x 0.1 s passes 0.9 in both directions (0.94 and 1.0), 200 N x 0.1 s fails
    assert doc["max_impulse_survived"]["by_body"] == {"pelvis": 5.0}
    assert [d["impulse"] for d in doc["max_impulse_survived"]["by_direction"]] == [5.0, 5.0]


def test_falls_before_the_push_fail_the_unconditional_rate_only():
    card = small_card()
    rollouts = [
        r if r.scenario.push is None or r.scenario.push.force != 50.0 else _fall_early(r, envs=2)
        for r in protocol_rollouts(card, failure_impulse=1e9, rng=np.random.default_rng(0))
    ]
    doc = score_rollouts(card, rollouts)
    entry = next(e for e in doc["push_success"] if e["force"] == 50.0)
    # per seed 2 azimuths x 8 envs, 2 of each 8 fall at step 3 (before any push): 24 of 32 reach it
    assert (entry["n"], entry["n_all"], entry["reached_push"]) == (24, 32, 0.75)
    assert entry["success"]["point"] == 1.0 and entry["unconditional"]["point"] == 0.75
    assert entry["unconditional"]["low"] < 0.75 < entry["unconditional"]["high"]
    assert doc["protocol"]["fall_rule"]["version"] == 1
    assert doc["protocol"]["headline_push"] == {"force": 50.0, "duration": 0.1}
    assert doc["tracking_error"]["defined_fraction"] == 1.0


def _fall_early(rollout, envs):
    """The same rollout with its first `envs` envs lying on the floor from step 3 on."""
    positions = rollout.body_positions.copy()
    positions[:envs, 3:, :, 2] = 0.05
    return dataclasses.replace(rollout, body_positions=positions)


def test_an_episode_that_starts_lying_is_judged_from_when_it_stands():
    card = small_card()
    rollouts = protocol_rollouts(card, failure_impulse=1e9, rng=np.random.default_rng(0))
    unpushed = rollouts[0]
    positions = unpushed.body_positions.copy()
    positions[0, :10, :, 2] = 0.05  # env 0 gets up at step 10
    positions[1, :, :, 2] = 0.05  # env 1 never gets up
    lying = dataclasses.replace(unpushed, body_positions=positions)
    assert fall_step_of(lying)[0] == fall_step_of(unpushed)[0] and fall_step_of(lying)[1] == 0
    doc = score_rollouts(card, [lying, *rollouts[1:]])
    assert (doc["episode_seconds"]["started_down"], doc["episode_seconds"]["started_down_stood_up"]) == (2, 1)


def test_scoring_is_deterministic(scored):
    card, rollouts, doc = scored
    assert score_rollouts(card, rollouts) == doc
    # 16 episodes of which 2 fall give few distinct replicates: some generator seeds tie
    assert any(
        score_rollouts(card, rollouts, bootstrap_seed=seed)["episode_seconds"]["mean"]
        != doc["episode_seconds"]["mean"]
        for seed in range(1, 6)
    )


def test_imitation_error_is_scored_when_a_reference_is_given(scored):
    card, rollouts, _ = scored
    times = np.arange(0, 1.0 + 1e-9, 1 / 30)
    reference = np.stack([np.sin(2 * np.pi * times), np.cos(2 * np.pi * times)], axis=1)
    doc = score_rollouts(card, rollouts, references={"walk": (reference, 1 / 30)})
    assert doc["imitation_error"]["mean"]["point"] < 0.02
    assert doc["imitation_error_by_skill"]["walk"] == doc["imitation_error"]
    assert score_rollouts(card, rollouts, references={"run": (reference, 1 / 30)})["imitation_error"] is None


@pytest.mark.parametrize(
    ("failure_impulse", "passed"),
    [(30.0, [True, True]), (1.0, [False, True])],
)
def test_expectations_pass_and_fail(failure_impulse, passed):
    card = card_with(
        [
            {"metric": "push_success", "force": 50.0, "duration": 0.1, "at_least": 0.9},
            {"metric": "mean_episode_seconds", "at_least": 1.0},
        ]
    )
    rollouts = protocol_rollouts(card, failure_impulse=failure_impulse, rng=np.random.default_rng(1))
    results = score_rollouts(card, rollouts)["expectations"]
    assert [r["passed"] for r in results] == passed
    assert results[0]["force"] == 50.0 and 0.0 <= results[0]["value"] <= 1.0


def test_expectation_outside_the_grid_is_an_error():
    card = card_with([{"metric": "push_success", "force": 75.0, "duration": 0.1, "at_least": 0.9}])
    rollouts = protocol_rollouts(card, rng=np.random.default_rng(0))
    with pytest.raises(ScoreError, match=r"75.0 N x 0.1 s has no push cell"):
        score_rollouts(card, rollouts)


def test_rollouts_without_an_unpushed_scenario_are_refused(scored):
    card, rollouts, _ = scored
    with pytest.raises(ScoreError, match="no unpushed rollout"):
        score_rollouts(card, [r for r in rollouts if r.scenario.push is not None])


def test_write_and_load_round_trip(scored, tmp_path):
    card, _, doc = scored
    path = write_scores(doc, tmp_path, card, "mjx", "run-0", PROVENANCE)
    assert path == tmp_path / "mini" / "mjx" / "run-0" / "scores.json"
    loaded = load_scores(path)
    assert loaded["provenance"] == PROVENANCE
    assert loaded["backend"] == "mjx" and loaded["run_id"] == "run-0"
    assert {k: loaded[k] for k in doc} == json.loads(json.dumps(doc))
    assert [p.name for p in path.parent.iterdir()] == ["scores.json"]


def test_write_refuses_incomplete_provenance_and_bad_names(scored, tmp_path):
    card, _, doc = scored
    partial = {k: v for k, v in PROVENANCE.items() if k != "checkpoint_sha256"}
    with pytest.raises(ScoreError, match="missing \\['checkpoint_sha256'\\]"):
        write_scores(doc, tmp_path, card, "mjx", "run-0", partial)
    with pytest.raises(ScoreError, match="run id"):
        write_scores(doc, tmp_path, card, "mjx", "../x", PROVENANCE)
    assert set(PROVENANCE) == set(PROVENANCE_KEYS)


def test_load_errors_name_the_file_and_key(scored, tmp_path):
    card, _, doc = scored
    with pytest.raises(ScoreError, match="score file not found"):
        load_scores(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ScoreError, match=f"{broken}: not valid JSON"):
        load_scores(broken)
    path = write_scores(doc, tmp_path, card, "mjx", "run-0", PROVENANCE)
    data = json.loads(path.read_text())
    del data["push_cells"]
    path.write_text(json.dumps(data))
    with pytest.raises(ScoreError, match=r"scores.json: missing key\(s\) \['push_cells'\]"):
        load_scores(path)
    data = json.loads(json.dumps(doc)) | {"backend": "mjx", "run_id": "r", "provenance": {"commit": "x"}}
    path.write_text(json.dumps(data))
    with pytest.raises(ScoreError, match="provenance is missing"):
        load_scores(path)


def test_max_impulse_per_body_is_its_weakest_defined_direction():
    def cell(impulse, rate, azimuth, n=10):
        return SuccessRow("pelvis", impulse / 0.1, 0.1, azimuth, impulse, 0.0, rate, n, 0, {}, {})

    # forward fails at once (0), left holds to 5, backwards has no valid episode (undefined)
    rows = [cell(0, 1.0, 0.0), cell(5, 0.5, 0.0), cell(0, 1.0, 90.0), cell(5, 1.0, 90.0)]
    rows.append(cell(0, float("nan"), 180.0, n=0))
    assert _max_impulse(rows, 0.9)["by_body"] == {"pelvis": 0.0}
    assert _max_impulse([cell(0, float("nan"), 0.0, n=0)], 0.9)["by_body"] == {"pelvis": None}


def test_blown_up_steps_are_counted_and_end_their_episodes(scored):
    card, rollouts, doc = scored
    assert doc["physics_blowups"] == {"steps": 0, "episodes": 0, "of_episodes": sum(r.envs for r in rollouts)}
    first = rollouts[0]
    finite = first.finite.copy()
    finite[1, 10:12] = False
    broken = [dataclasses.replace(first, finite=finite), *rollouts[1:]]
    counted = score_rollouts(card, broken)["physics_blowups"]
    assert (counted["steps"], counted["episodes"]) == (2, 1)
    assert fall_step_of(broken[0])[1] == 10


def test_a_score_file_with_nan_is_refused_naming_it_and_the_key(scored, tmp_path):
    card, _, doc = scored
    path = write_scores(doc, tmp_path, card, "mjx", "run0", PROVENANCE)
    text = path.read_text()
    path.write_text(text.replace('"schema": 2', '"schema": 2, "oops": NaN', 1))
    with pytest.raises(ScoreError, match=r"scores.json: key 'oops' is NaN where a number belongs"):
        load_scores(path)
    point = doc["episode_seconds"]["mean"]["point"]
    path.write_text(text.replace(f'"point": {json.dumps(point)}', '"point": -Infinity', 1))
    with pytest.raises(ScoreError, match=r"key 'episode_seconds.mean.point' is -Infinity"):
        load_scores(path)


def test_scoring_reads_the_rollouts_once_and_keeps_one_pushed_scenario_at_a_time(scored):
    """A generator that plays each scenario when asked scores as the list does, and no pushed rollout
    is alive when the next scenario plays: the memory bound `score` and `cards validate` count on
    (`kept_whole`)."""
    card, rollouts, doc = scored
    pushed: list[weakref.ref] = []
    most = 0

    def played():
        nonlocal most
        for rollout in rollouts:
            copy = dataclasses.replace(rollout)  # a fresh object, as a simulator's rollout is
            if copy.scenario.push is not None:
                pushed.append(weakref.ref(copy))
            yield copy
            del copy
            gc.collect()
            most = max(most, sum(ref() is not None for ref in pushed))

    assert score_rollouts(card, played()) == doc
    assert most == 0 and any(r.scenario.push is not None for r in rollouts)
