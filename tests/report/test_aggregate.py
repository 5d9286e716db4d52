"""A phase over many runs and cards: the interquartile mean with its stratified bootstrap interval and the
performance profile, from score files (rliable's conventions, computed by `scoring.stats`)."""

import numpy as np
import pytest

from ampbench.report.aggregate import THRESHOLDS, phase_aggregates
from ampbench.report.groups import collect_scores
from ampbench.report.tables import render_results
from ampbench.scoring import stats
from tests.report.test_report import write_fixture
from tests.rolloutfactory import small_card


def test_performance_profile_counts_runs_above_each_threshold_with_a_band_around_it():
    values = {"a": [0.1, 0.9, 0.5], "b": [0.2, 0.3]}
    fraction, low, high = stats.performance_profile(
        values, [0.0, 0.25, 0.5, 1.0], rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(fraction, [1.0, 0.6, 0.2, 0.0])
    assert np.all(low <= fraction) and np.all(fraction <= high)
    # Stratified: card b's runs never exceed 0.3, so at tau 0.5 at most a's 3 of 5 runs can.
    assert high[2] <= 3 / 5


def test_phase_aggregate_pools_the_cards_of_a_phase_per_backend_and_never_mixes_budgets(tmp_path):
    strong, weak = small_card("strong", "phase2"), small_card("weak", "phase2")
    for seed in range(3):
        write_fixture(tmp_path, strong, "mjx", f"run-{seed}", failure_impulse=30.0, seed=seed)
        write_fixture(tmp_path, weak, "mjx", f"run-{seed}", failure_impulse=2.0, seed=seed)
    write_fixture(tmp_path, weak, "mjx", "run-9", failure_impulse=2.0, overlays=("smoke",))
    aggregates = phase_aggregates(collect_scores(tmp_path))
    (full,) = [a for a in aggregates if a.budget == "full"]
    (smoke,) = [a for a in aggregates if a.budget != "full"]
    assert sorted(full.scores) == ["strong", "weak"] and full.runs == 6 and smoke.runs == 1
    pooled = [value for values in full.scores.values() for value in values]
    point, low, high = full.iqm()
    assert point == pytest.approx(stats.iqm(pooled)) and low <= point <= high
    assert min(full.scores["weak"]) < point < max(full.scores["strong"])
    fraction, _, _ = full.profile()
    assert fraction.shape == THRESHOLDS.shape and np.all(np.diff(fraction) <= 0)

    text = render_results(tmp_path).read_text()
    assert "| phase2 | mjx | full | strong, weak | 6 |" in text
    assert (tmp_path / "plots" / "profile__phase2.png").is_file()
