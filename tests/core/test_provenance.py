"""Provenance of the code and the container a process runs in."""

from __future__ import annotations

from pathlib import Path

from ampbench.core import provenance as source


def test_outside_a_checkout_the_image_commit_is_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(source.IMAGE_COMMIT_ENV, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert source.git_commit(tmp_path) == "unknown"
    monkeypatch.setenv(source.IMAGE_COMMIT_ENV, "abc123-dirty")
    assert source.git_commit(tmp_path) == "abc123-dirty"


def test_container_provenance_only_inside_one(monkeypatch) -> None:
    for name in source.CONTAINER_ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert source.container() is None
    monkeypatch.setenv("AMPBENCH_CONTAINER_IMAGE", "ampbench-mjx:0.1.0-abc-cpu")
    monkeypatch.setenv("AMPBENCH_CONTAINER_DIGEST", "sha256:31fb")
    monkeypatch.setenv("AMPBENCH_CONTAINER_ENGINE", "podman 4.3.1")
    assert source.container() == {
        "in_container": True,
        "image": "ampbench-mjx:0.1.0-abc-cpu",
        "digest": "sha256:31fb",
        "engine": "podman 4.3.1",
    }


def test_run_provenance_records_the_container(monkeypatch) -> None:
    from ampbench.core.provenance import provenance
    from tests.rolloutfactory import small_card

    card = small_card("tiny", "phase1")
    for name in source.CONTAINER_ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AMPBENCH_CONTAINER_IMAGE", "ampbench-mjx:0.1.0-abc-cpu")
    monkeypatch.setenv("AMPBENCH_CONTAINER_DIGEST", "sha256:31fb")
    prov = provenance(card, backend="mujoco", backend_versions={}, device="cpu", seed=0)
    assert prov["container"]["digest"] == "sha256:31fb"
    assert prov["container"]["image"] == "ampbench-mjx:0.1.0-abc-cpu"
    for name in ("AMPBENCH_CONTAINER_IMAGE", "AMPBENCH_CONTAINER_DIGEST"):
        monkeypatch.delenv(name)
    assert provenance(card, backend="mujoco", backend_versions={}, device="cpu", seed=0)["container"] is None
