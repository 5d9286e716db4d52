"""Run folders: complete provenance, atomic writes, and errors that say what is wrong with a folder."""

from __future__ import annotations

import json
import os

import pytest

from ampbench.cards import card_from_dict
from ampbench.cli import main
from ampbench.core.files import atomic_write_bytes
from ampbench.core.provenance import provenance
from ampbench.core.runs import RunError, create_run, latest_checkpoint, new_run_dir
from ampbench.pipeline.runs import load_run

CARD = card_from_dict(
    {
        "name": "tiny",
        "phase": "phase1",
        "description": "test card",
        "mocap": {"clips": [{"name": "deepmimic/walk", "skill": "walk"}]},
        "commands": {"bands": [{"skill": "walk", "speed": [0.5, 1.0]}]},
    }
)


@pytest.fixture
def run_dir(tmp_path):
    path = new_run_dir(tmp_path / "runs", CARD, "mjx", 0)
    prov = provenance(CARD, backend="mjx", backend_versions={"jax": "x"}, device="cpu", seed=0)
    create_run(path, CARD, prov)
    return path


def test_provenance_names_card_commit_versions_and_hardware(run_dir):
    card, prov = load_run(run_dir)
    assert card == CARD
    assert prov["card_hash"] == CARD.content_hash() and prov["seed"] == 0
    assert prov["commit"] and prov["versions"]["python"] and prov["versions"]["jax"] == "x"
    assert prov["hardware"]["cores"] >= 1 and prov["device"] == "cpu"


def test_run_folders_never_collide(tmp_path):
    first = new_run_dir(tmp_path, CARD, "mjx", 0)
    first.mkdir(parents=True)
    assert new_run_dir(tmp_path, CARD, "mjx", 0) != first


def test_missing_folder_and_missing_files_are_named(tmp_path, run_dir):
    with pytest.raises(RunError, match="run folder not found"):
        load_run(tmp_path / "nowhere")
    (run_dir / "provenance.json").unlink()
    with pytest.raises(RunError, match=r"provenance\.json is missing"):
        load_run(run_dir)


def test_an_edited_card_is_refused(run_dir):
    data = json.loads((run_dir / "card.json").read_text())
    data["training"]["envs"] = 7
    (run_dir / "card.json").write_text(json.dumps(data))
    with pytest.raises(RunError, match=r"does not match provenance\.json card_hash"):
        load_run(run_dir)


def test_checkpoint_pointer_errors_name_the_file(run_dir):
    with pytest.raises(RunError, match="no checkpoint yet"):
        latest_checkpoint(run_dir)
    (run_dir / "checkpoints" / "latest").write_text("ckpt_000004.msgpack\n")
    with pytest.raises(RunError, match=r"ckpt_000004\.msgpack, which does not exist"):
        latest_checkpoint(run_dir)


def test_cli_reports_a_broken_run_folder_without_a_traceback(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nowhere")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "file.json"
    atomic_write_bytes(path, b"old")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match=r"No space left on device; the previous file is kept: '.*file\.json'"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_one_writer_per_run_folder_and_a_killed_holder_frees_it(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys

    from ampbench.core.runs import RunBusyError, run_lock

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ampbench.core.runs import run_lock\n"
         f"with run_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = rf"in use by pid {holder.pid} on {socket.gethostname()}"
        with pytest.raises(RunBusyError, match=busy), run_lock(tmp_path):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with run_lock(tmp_path):  # the kernel released the killed holder's lock
        pass
    with pytest.raises(RunError, match="run folder not found"), run_lock(tmp_path / "missing"):
        pass


def test_latest_naming_a_path_outside_the_run_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for name in ("../../etc/passwd", "/etc/passwd", ".."):
        (tmp_path / "checkpoints" / "latest").write_text(name + "\n")
        with pytest.raises(RunError, match="not a file in its own folder"):
            latest_checkpoint(tmp_path)


def test_score_reports_each_broken_folder_and_scores_the_rest(tmp_path, capsys):
    assert main(["score", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("run folder not found") == 2
    assert "2 of 2 run folders not scored" in captured.out
