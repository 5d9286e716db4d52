"""Reports from score files only: tables, backend comparison, plots, and the empty case.

The score files here are test fixtures written into tmp_path via `write_scores` from synthetic
rollouts; nothing is written into the repository's results/.
"""

import json

import numpy as np
import pytest

from ampbench.report import imitation, tables
from ampbench.report.compare import compare, transfer_matrix
from ampbench.report.groups import collect_scores, combined_interval, format_combined
from ampbench.report.plots import plot_torque_profile
from ampbench.report.tables import render_results
from ampbench.scoring.falls import FALL_RULE, FallRule
from ampbench.scoring.score import ScoreError, score_rollouts
from ampbench.scoring.score_files import write_scores
from tests.rolloutfactory import protocol_rollouts, small_card

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def provenance(commit, overlays=(), overrides=()):
    return {
        "training": {"overlays": list(overlays), "overrides": list(overrides)},
        "card_hash": "h",
        "commit": commit,
        "versions": {},
        "hardware": "test",
        "checkpoint_sha256": "0" * 64,
        "device": "cpu",
    }


def write_fixture(root, card, backend, run_id, failure_impulse, seed=0, overlays=(), overrides=()):
    rollouts = protocol_rollouts(card, failure_impulse=failure_impulse, rng=np.random.default_rng(seed))
    doc = score_rollouts(card, rollouts)
    return write_scores(
        doc,
        root,
        card,
        backend,
        run_id,
        provenance(
            f"{'0' * 40}-dirty" if backend == "isaaclab" else f"{run_id[-1] * 40}", overlays, overrides
        ),
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    mini, solo = small_card("mini", "phase2"), small_card("solo", "baseline")
    write_fixture(root, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(root, mini, "mjx", "run-1", failure_impulse=8.0, seed=1)
    write_fixture(root, mini, "isaaclab", "run-0", failure_impulse=30.0)
    write_fixture(root, solo, "mjx", "run-0", failure_impulse=8.0)
    return root


def table_rows(text, first_cell):
    return [line for line in text.splitlines() if line.startswith(f"| {first_cell} |")]


def test_smoke_runs_get_their_own_rows_and_never_pool_with_full_runs(tmp_path):
    mini = small_card("mini", "phase2")
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(tmp_path, mini, "mjx", "run-1", failure_impulse=8.0, overlays=("smoke",))
    groups = collect_scores(tmp_path)
    assert [(g.label, len(g.docs)) for g in groups] == [("mini", 1), ("mini (smoke)", 1)]
    text = render_results(tmp_path).read_text()
    assert "| phase2 | mini (smoke) | mjx | 1 |" in text
    assert (tmp_path / "plots" / "mini__mjx__smoke__survival.png").is_file()


def test_a_run_short_of_its_card_budget_is_labelled_and_never_pools_with_full_runs(tmp_path):
    mini = small_card("mini", "phase2")
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    path = write_fixture(tmp_path, mini, "mjx", "run-1", failure_impulse=8.0, seed=1)
    doc = json.loads(path.read_text())
    doc["budget"] = {"env_steps": 4_000_000, "card_env_steps": 150_000_000, "fraction": 4 / 150}
    doc["provenance"]["smoke_protocol"] = True
    path.write_text(json.dumps(doc))
    groups = collect_scores(tmp_path)
    assert [(g.label, len(g.docs)) for g in groups] == [("mini", 1), ("mini (2% of steps, smoke grid)", 1)]
    text = render_results(tmp_path).read_text()
    assert "| phase2 | mini (2% of steps, smoke grid) | mjx | 1 |" in text
    assert (tmp_path / "plots" / "mini__mjx__2-of-steps-smoke-grid__survival.png").is_file()


def test_a_version_made_by_an_overlay_is_named_by_it(tmp_path):
    mini = small_card("mini", "phase2")
    control = mini.model_copy(update={"description": "mini, style weight 0"})
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(tmp_path, control, "mjx", "run-1", failure_impulse=8.0, overlays=("task_only",))
    labels = sorted(g.label for g in collect_scores(tmp_path))
    expected = [f"mini #{mini.content_hash()[:8]}", f"mini #task_only-{control.content_hash()[:8]}"]
    assert labels == sorted(expected)


def test_a_version_made_by_set_is_named_by_its_overrides(tmp_path):
    mini = small_card("mini", "phase2")
    control = mini.model_copy(update={"description": "mini, style weight 0"})
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(tmp_path, control, "mjx", "run-1", 8.0, overrides=("amp.style_reward_scale=0",))
    labels = sorted(g.label for g in collect_scores(tmp_path))
    expected = [
        f"mini #{mini.content_hash()[:8]}",
        f"mini #amp.style_reward_scale=0-{control.content_hash()[:8]}",
    ]
    assert labels == sorted(expected)


def test_runs_of_an_edited_card_never_pool_with_the_older_version(tmp_path):
    mini = small_card("mini", "phase2")
    edited = mini.model_copy(update={"description": "mini, edited"})
    assert edited.content_hash() != mini.content_hash()
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(tmp_path, mini, "mjx", "run-1", failure_impulse=8.0, seed=1)
    write_fixture(tmp_path, edited, "mjx", "run-2", failure_impulse=30.0)
    labels = {g.label: len(g.docs) for g in collect_scores(tmp_path)}
    assert labels == {f"mini #{mini.content_hash()[:8]}": 2, f"mini #{edited.content_hash()[:8]}": 1}
    rows = [line for line in transfer_matrix(tmp_path).splitlines() if line.startswith("| mini")]
    assert len(rows) == 2 and "(n=2 runs)" in " ".join(rows) and "(1 run, over episodes)" in " ".join(rows)
    render_results(tmp_path)
    assert (tmp_path / "plots" / f"mini__mjx__{edited.content_hash()[:8]}__survival.png").is_file()


def test_render_with_no_score_files_says_so(tmp_path):
    readme = render_results(tmp_path)
    text = readme.read_text()
    assert "No results yet" in text
    assert "|" not in text
    assert not (tmp_path / "plots").exists()


def test_the_intro_states_the_fall_rule_that_scoring_owns(tmp_path, monkeypatch):
    below = FALL_RULE.below
    assert (
        f"when the pelvis origin is below {below['pelvis']:g} m, the head origin below {below['head']:g} m, "
        f"a hand origin below {below['left_hand']:g} m, or the\n"
    ) in render_results(tmp_path).read_text()
    moved = FallRule(version=9, below={"pelvis": 0.45, "head": 0.75, "left_hand": 0.12, "right_hand": 0.12})
    monkeypatch.setattr(tables, "FALL_RULE", moved)
    assert "pelvis origin is below 0.45 m, the head origin below 0.75 m, a hand origin below 0.12 m" in (
        render_results(tmp_path).read_text()
    )
    monkeypatch.setattr(tables, "FALL_RULE", FallRule(version=9, below={**moved.below, "right_hand": 0.2}))
    with pytest.raises(ValueError, match="update the intro's wording"):
        render_results(tmp_path)


def test_render_tables_from_score_files(results):
    text = render_results(results).read_text()
    mjx_row = next(row for row in table_rows(text, "phase2") if " mjx | 2 |" in row)
    assert "0000000000, 1111111111 |" in mjx_row
    assert "pelvis 2.5" in mjx_row
    assert "0.200 [0.200, 0.200] (n=2 runs)" in mjx_row  # tracking error: walks at 0.8, commanded 1.0
    assert "| 50 N x 0.1 s: " in mjx_row  # the headline push cell, unconditional
    push_rows = [row for row in table_rows(text, "phase2") if "| 200 | 0.1 | 20.00 |" in row]
    assert [row.split(" | ")[2] for row in push_rows] == ["isaaclab", "mjx"]
    # 2 azimuths x 2 seeds x 8 envs, all up at the push; Wilson, not a bootstrap's [1, 1]
    once = "1.00 [0.89, 1.00] (1 run, over episodes)"
    assert push_rows[0].endswith(f"{once} | 32 | {once} | 32 |")
    gait = text.split("## Push success by gait phase")[1].split("## Endurance")[0]
    assert [row.split(" | ")[3] for row in table_rows(gait, "phase2") if " mjx |" in row] == [
        "touchdown",
        "mid_stance",
        "liftoff",
        "mid_swing",
    ]
    endurance = text.split("## Endurance under the card's training pushes")[1].split("## Plots")[0]
    mjx_endurance = next(row for row in table_rows(endurance, "phase2") if " mjx |" in row).split(" | ")
    assert mjx_endurance[3] == "60" and mjx_endurance[4].endswith("(n=2 runs)")
    assert "falls, pooled over 2 runs' episodes)" in mjx_endurance[5] or "no fall" in mjx_endurance[5]
    assert mjx_endurance[7] == "—"  # the small card states no expected length
    assert "| 0000000000-dirty |" in next(
        row for row in table_rows(text, "phase2") if "isaaclab | 1 |" in row
    )


def test_headline_orders_phases_and_backends(results):
    text = render_results(results).read_text()
    headline = text.split("## Headline")[1].split("\n## ")[0]
    keys = [
        tuple(cell.strip() for cell in row.split("|")[1:4])
        for row in headline.splitlines()
        if row.startswith("| ") and "phase |" not in row
    ]
    assert keys == [("baseline", "solo", "mjx"), ("phase2", "mini", "isaaclab"), ("phase2", "mini", "mjx")]


def test_plots_are_non_empty_pngs(results):
    text = render_results(results).read_text()
    plots = sorted((results / "plots").glob("*.png"))
    assert [p.name for p in plots] == [
        "mini__isaaclab__push_success.png",
        "mini__isaaclab__survival.png",
        "mini__mjx__push_success.png",
        "mini__mjx__survival.png",
        "profile__baseline.png",
        "profile__phase2.png",
        "solo__mjx__push_success.png",
        "solo__mjx__survival.png",
    ]
    for plot in plots:
        assert plot.read_bytes().startswith(PNG_MAGIC) and plot.stat().st_size > 1000
        assert f"plots/{plot.name}" in text


def test_plots_an_earlier_report_drew_and_this_one_does_not_link_go_and_other_files_stay(results):
    plots = results / "plots"
    render_results(results)
    stale, mine = plots / "mini__mjx__67-of-steps__survival.png", plots / "my_figure.png"
    for path in (stale, mine):
        path.write_bytes(PNG_MAGIC)
    render_results(results)
    assert not stale.exists() and mine.exists()
    assert (plots / "mini__mjx__survival.png").exists()
    mine.unlink()


def _compare_rows(text):
    return {tuple(c.strip() for c in row.split("|")[1:3]): row.split("|") for row in text.splitlines()[2:]}


def test_compare_needs_two_runs_a_side_for_a_test(results):
    text = compare(results)
    assert (
        text.splitlines()[0]
        == "| card | metric | mjx | isaaclab | isaaclab - mjx [95% CI], Welch over runs |"
    )
    rows = _compare_rows(text)
    strong = rows[("mini", "push success 200 N x 0.1 s")]
    assert strong[3].strip() == "0.00 [0.00, 0.06] (n=2 runs)"  # never narrower than the pooled Wilson
    assert strong[4].strip() == "1.00 [0.89, 1.00] (1 run, over episodes)"
    assert strong[5].strip() == "no test: needs 2+ runs per backend (have 2 and 1)"
    solo = rows[("solo", "episode s")]
    assert [c.strip() for c in solo[4:6]] == ["—", "no test: needs 2+ runs per backend (have 1 and 0)"]
    with pytest.raises(ValueError, match="exactly two backends"):
        compare(results, backends=("mjx",))


def test_compare_tests_the_difference_over_runs(tmp_path):
    mini = small_card("mini", "phase2")
    for seed in (0, 1, 2):
        write_fixture(tmp_path, mini, "mjx", f"run-{seed}", failure_impulse=8.0, seed=seed)
        write_fixture(tmp_path, mini, "isaaclab", f"run-{seed}", failure_impulse=30.0, seed=10 + seed)
    rows = _compare_rows(compare(tmp_path))
    strong = rows[("mini", "push success 200 N x 0.1 s")]
    assert strong[3].strip().endswith("(n=3 runs)") and strong[4].strip().endswith("(n=3 runs)")
    # fails always vs never: no spread on either side, so no test (not p = 0)
    assert strong[5].strip() == "+1.00; no test: every run of each backend gives the same value"
    episode = rows[("mini", "episode s")][5].strip()
    assert ", p = " in episode and float(episode.split("p = ")[1]) > 0.05  # same unpushed policy


def test_score_file_in_the_wrong_folder_is_refused(results, tmp_path):
    source = results / "solo" / "mjx" / "run-0" / "scores.json"
    moved = tmp_path / "solo" / "isaaclab" / "run-0" / "scores.json"
    moved.parent.mkdir(parents=True)
    moved.write_text(source.read_text())
    with pytest.raises(ValueError, match="its folder says solo/isaaclab/run-0"):
        collect_scores(tmp_path)
    moved.write_text(json.dumps({"schema": 1}))
    with pytest.raises(ScoreError, match="missing key"):
        collect_scores(tmp_path)


def write_torque_clip(path, frames=60, fps=30.0):
    dof_names = ["abdomen_x", "abdomen_y", "abdomen_z", "right_knee", "left_knee"]
    body_names = ["pelvis", "torso"]
    time = np.arange(frames) / fps
    dofs = np.sin(np.outer(time, np.arange(1, len(dof_names) + 1)))
    rotations = np.zeros((frames, len(body_names), 4))
    rotations[..., 0] = 1.0
    zeros3 = np.zeros((frames, len(body_names), 3))
    np.savez(
        path,
        fps=np.float64(fps),
        dof_names=np.array(dof_names),
        body_names=np.array(body_names),
        dof_positions=dofs,
        dof_velocities=np.gradient(dofs, 1 / fps, axis=0),
        body_positions=zeros3,
        body_rotations=rotations,
        body_linear_velocities=zeros3,
        body_angular_velocities=zeros3,
        joint_torques=20.0 * dofs,
        dof_convention=np.array("hinge_xyz"),
        filled_fields=np.array([], dtype=str),
        loop=np.array(False),
    )
    return path


def test_plot_torque_profile(tmp_path):
    out = plot_torque_profile(write_torque_clip(tmp_path / "clip.npz"), tmp_path / "torques.png")
    assert out.read_bytes().startswith(PNG_MAGIC) and out.stat().st_size > 1000


def test_plot_torque_profile_needs_torques(tmp_path):
    path = write_torque_clip(tmp_path / "clip.npz")
    with np.load(path) as npz:
        fields = {key: npz[key] for key in npz.files if key != "joint_torques"}
    np.savez(path, **fields)
    with pytest.raises(ValueError, match="'joint_torques' is missing"):
        plot_torque_profile(path, tmp_path / "torques.png")


def test_transfer_matrix_puts_scores_on_another_backend_off_the_diagonal(tmp_path):
    mini = small_card("mini", "phase2")
    write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=8.0)
    write_fixture(tmp_path, mini, "mujoco", "run-0", failure_impulse=8.0)
    rollouts = protocol_rollouts(mini, failure_impulse=8.0, rng=np.random.default_rng(0))
    path = write_scores(
        score_rollouts(mini, rollouts),
        tmp_path,
        mini,
        "mjx",
        "run-0",
        provenance("1" * 40),
        scored_on="mujoco",
    )
    assert path == tmp_path / "mini" / "mjx" / "run-0" / "on-mujoco" / "scores.json"
    assert [g.backend for g in collect_scores(tmp_path)] == ["mjx", "mujoco"]  # own scores only
    lines = transfer_matrix(tmp_path).splitlines()
    assert lines[2] == "| card | trained on | trainer | scored on mjx | scored on mujoco |"
    cells = {row.split("|")[2].strip(): [c.strip() for c in row.split("|")[4:6]] for row in lines[4:]}
    once = "(1 run, over episodes)"
    assert cells["mjx"][0].endswith(once) and cells["mjx"][1].endswith(once)
    assert cells["mujoco"] == ["—", cells["mujoco"][1]] and cells["mujoco"][1].endswith(once)


def _matrix_cells(text: str) -> dict[tuple[str, str], list[str]]:
    """(trained on, trainer) -> the row's cells after them, from a transfer matrix's markdown."""
    rows = [line.split("|")[1:-1] for line in text.splitlines()[4:] if line.startswith("|")]
    return {(row[1].strip(), row[2].strip()): [cell.strip() for cell in row[3:]] for row in rows}


def test_transfer_matrix_rows_are_backend_and_trainer_with_intervals_over_seeds(tmp_path):
    """Two seeds trained by the project's trainer and one by skrl on isaaclab, each scored on isaaclab
    and mjx, one mjx run scored on both: skrl's run is its own row, two seeds give an interval over
    runs, and a cell holds exactly the runs trained that way and scored there."""
    mini = small_card("mini", "phase2")
    skrl = mini.model_copy(update={"trainer": "skrl"})
    scored = []
    for card, backend, run_id, seed, impulse in (
        (mini, "isaaclab", "run-0", 0, 8.0),
        (mini, "isaaclab", "run-1", 1, 8.0),
        (skrl, "isaaclab", "run-2", 2, 30.0),
        (mini, "mjx", "run-3", 3, 8.0),
    ):
        other = "mjx" if backend == "isaaclab" else "isaaclab"
        for on, fail in ((backend, impulse), (other, impulse / 2)):
            rollouts = protocol_rollouts(card, failure_impulse=fail, rng=np.random.default_rng(seed))
            doc = score_rollouts(card, rollouts)
            write_scores(doc, tmp_path, card, backend, run_id, provenance("1" * 40), scored_on=on)
            scored.append((backend, card.trainer, on, doc["episode_seconds"]["mean"]["point"]))
    text = transfer_matrix(tmp_path)
    assert text.splitlines()[2] == "| card | trained on | trainer | scored on isaaclab | scored on mjx |"
    cells = _matrix_cells(text)
    assert set(cells) == {("isaaclab", "ampbench"), ("isaaclab", "skrl"), ("mjx", "ampbench")}
    for (backend, trainer), row in cells.items():
        for on, cell in zip(("isaaclab", "mjx"), row, strict=True):
            points = [p for b, t, o, p in scored if (b, t, o) == (backend, trainer, on)]
            assert cell.startswith(f"{np.mean(points):.2f} ["), (backend, trainer, on, cell)
            runs = "(n=2 runs)" if len(points) == 2 else "(1 run, over episodes)"
            assert cell.endswith(runs), cell
    groups = {(g.backend, g.trainer): g.label for g in collect_scores(tmp_path)}
    assert groups == {
        ("isaaclab", "ampbench"): "mini",
        ("isaaclab", "skrl"): "mini [skrl]",
        ("mjx", "ampbench"): "mini",
    }


def test_a_card_trained_on_two_backends_gets_one_plot_of_both_learning_curves(tmp_path):
    mini = small_card("mini", "phase2")
    for backend, slope in (("mjx", 1.0), ("mujoco", 2.0)):
        path = write_fixture(tmp_path, mini, backend, "run-0", failure_impulse=8.0)
        steps = [1000.0 * i for i in range(1, 6)]
        curves = {"episode/length": {"env_steps": steps, "values": [slope * i for i in range(5)]}}
        (path.parent / "learning_curves.json").write_text(
            json.dumps({"run": "run-0", "control_dt": 0.02, "curves": curves})
        )
    text = render_results(tmp_path).read_text()
    assert "- mini: [learning curves on every backend](plots/mini__backends__learning.png)" in text
    png = tmp_path / "plots" / "mini__backends__learning.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000


def test_every_cell_says_how_many_runs_its_interval_is_over():
    def pick(doc):
        return doc["metric"]

    one = {"metric": {"point": 1.0, "low": 0.5, "high": 1.5}}
    missing = {"metric": None}
    assert format_combined(combined_interval([one], pick), 1) == "1.0 [0.5, 1.5] (1 run, over episodes)"
    assert format_combined(combined_interval([one, missing, missing], pick), 1) == (
        "1.0 [0.5, 1.5] (1 of 3 runs has it, over its episodes)"
    )
    two = {"metric": {"point": 3.0, "low": 2.0, "high": 4.0}}
    rates = combined_interval([one, two, missing], pick, (0.0, 2.5))
    assert (rates.runs, rates.of_runs, rates.high) == (2, 3, 2.5)  # cut to the metric's bounds
    assert format_combined(rates, 1).endswith("(n=2 of 3 runs)")
    agree = combined_interval([one, dict(one)], pick)
    assert (agree.low, agree.high) == (0.5, 1.5)  # runs that agree keep their own uncertainty
    rounded = {"metric": {"point": 0.9999999999999999, "low": 0.5, "high": 1.5}}
    nearly = combined_interval([one, rounded], pick)
    assert (nearly.low, nearly.high) == (0.5, 1.5)  # runs that agree but for rounding, too
    counted = {"metric": {"point": 1.0, "low": 0.9, "high": 1.0, "successes": 32, "n": 32}}
    pooled = combined_interval([counted, counted], pick, (0.0, 1.0))
    assert pooled.low == pytest.approx(64 / (64 + 1.959964**2), abs=1e-6)  # Wilson of 64 of 64


def test_strides_are_tabled_beside_the_clips_and_compared(tmp_path):
    mini = small_card("mini", "phase2")
    for backend, run, period in (("mjx", "run-0", 1.1), ("mjx", "run-1", 1.3), ("isaaclab", "run-0", 1.2)):
        path = write_fixture(tmp_path, mini, backend, run, failure_impulse=8.0)
        doc = json.loads(path.read_text())
        summary = {
            "defined_fraction": 0.5,
            "mean": {"point": period, "low": period - 0.1, "high": period + 0.1},
        }
        doc["strides"] = {
            "foot": "left_foot",
            "period_s": summary,
            "length_m": {**summary, "mean": {"point": 1.0, "low": 0.9, "high": 1.1}},
            "clip": {"walk": {"period_s": 1.27, "length_m": 1.24}},
        }
        path.write_text(json.dumps(doc))
    text = render_results(tmp_path).read_text()
    strides = text.split("## Strides beside the clip's")[1].split("\n## ")[0]
    rows = {row.split("|")[3].strip(): row for row in table_rows(strides, "phase2")}
    assert "| left_foot | 1.20 [" in rows["mjx"] and "(n=2 runs) | walk 1.27 |" in rows["mjx"], rows
    assert rows["mjx"].endswith("| walk 1.24 | 50% |"), rows
    assert "stride period (s)" in compare(tmp_path, ("mjx", "isaaclab"))


def test_a_survived_grid_top_is_printed_as_a_lower_bound_never_as_a_value(tmp_path):
    mini = small_card("mini", "phase2")
    path = write_fixture(tmp_path, mini, "mjx", "run-0", failure_impulse=1e6)  # survives every cell
    doc = json.loads(path.read_text())
    top = max(cell["impulse"] for cell in doc["push_cells"])
    assert doc["max_impulse_survived"]["capped"] == ["pelvis"] and doc["max_impulse_survived"]["by_body"] == {
        "pelvis": top
    }
    (row,) = table_rows(
        render_results(tmp_path).read_text().split("## Headline")[1].split("\n## ")[0], "phase2"
    )
    assert f"| pelvis > {top:.1f} |" in row, row


def test_the_last_tenth_mean_counts_each_logged_point_once():
    curve = {"env_steps": [1000.0 * i for i in range(1, 11)], "values": [0.0] * 8 + [1.0, 4.0]}
    assert imitation.last_share_mean(curve) == pytest.approx(2.5)
    assert imitation.last_share_mean({**curve, "logged": [5] * 8 + [1, 3]}) == pytest.approx(13 / 4)
    assert imitation.last_share_mean({"env_steps": [], "values": []}) is None


def test_imitation_run_by_run_lists_every_seed_with_its_interval_and_last_tenth_logits(tmp_path):
    mini = small_card("mini", "phase2")
    steps = [1000.0 * i for i in range(1, 11)]
    runs = {
        "run-0": (0, (41.8, 41.0, 43.5), {imitation.POLICY_LOGIT: -2.0, imitation.POLICY_LOGIT_SPREAD: 3.5}),
        "run-1": (1, (2896.0, 2881.0, 2912.0), {imitation.POLICY_LOGIT: -9.0}),  # no spread logged
        "run-2": (2, (50.9, 50.3, 52.1), None),  # no learning curves committed
    }
    for run_id, (seed, (point, low, high), last_values) in runs.items():
        path = write_fixture(tmp_path, mini, "mjx", run_id, failure_impulse=8.0, seed=seed)
        doc = json.loads(path.read_text())
        doc["imitation_distance"] = {"point": point, "low": low, "high": high, "floor": 0.03}
        doc["budget"] = {"env_steps": 30_000_000, "card_env_steps": 30_000_000, "fraction": 1.0}
        doc["provenance"]["training"]["seed"] = seed
        path.write_text(json.dumps(doc))
        if last_values is not None:
            curves = {
                tag: {"env_steps": steps, "values": [0.0] * 8 + [v] * 2} for tag, v in last_values.items()
            }
            (path.parent / "learning_curves.json").write_text(
                json.dumps({"run": run_id, "control_dt": 0.02, "curves": curves})
            )
    smoke = write_fixture(tmp_path, mini, "mjx", "run-3", failure_impulse=8.0, overlays=("smoke",))
    doc = json.loads(smoke.read_text())
    doc["imitation_distance"] = {"point": 9.0, "low": 8.0, "high": 10.0, "floor": 0.03}
    smoke.write_text(json.dumps(doc))
    write_fixture(tmp_path, small_card("solo", "baseline"), "mjx", "run-0", failure_impulse=8.0)
    text = render_results(tmp_path).read_text()
    section = text.split("## Imitation, run by run\n")[1].split("\n## ")[0]
    assert table_rows(section, "solo") == []  # no imitation distance: no row
    assert "run-3" not in section  # a smoke run says nothing of imitation
    rows = [row.split(" | ")[2:8] for row in table_rows(section, "mini")]
    assert rows == [
        ["run-0", "0", "30.0M", "41.8 [41.0, 43.5]", "-2.00", "3.50"],
        ["run-1", "1", "30.0M", "2,896.0 [2,881.0, 2,912.0]", "-9.00", "—"],
        ["run-2", "2", "30.0M", "50.9 [50.3, 52.1]", "—", "—"],
    ]
