"""Container command lines, built from host facts without an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampbench.core import containers
from ampbench.core.containers import EngineError, Host, Mount

# A machine like the CI one: rootful podman, cgroups v1, no CAP_SYS_RESOURCE, low hard limits.
RESTRICTED = Host("podman", 0, 0, cgroup_v1=True, can_raise_limits=False, nofile_hard=20000, nproc_hard=96363)
ROOTLESS = Host(
    "podman", 1000, 1000, cgroup_v1=False, can_raise_limits=False, nofile_hard=1 << 20, nproc_hard=1 << 20
)
DOCKER = Host("docker", 1000, 1001, cgroup_v1=True, can_raise_limits=False, nofile_hard=1024, nproc_hard=1024)


def flag_values(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, item in enumerate(command) if item == flag]


def test_engine_choice_prefers_podman_and_honours_the_request() -> None:
    both = {"podman": "/usr/bin/podman", "docker": "/usr/bin/docker"}.get
    fine = lambda engine: None  # noqa: E731
    assert containers.choose_engine(None, which=both, problem=fine) == "podman"
    assert containers.choose_engine("docker", which=both, problem=fine) == "docker"
    assert containers.choose_engine(None, which={"docker": "/usr/bin/docker"}.get, problem=fine) == "docker"
    no_daemon = {"docker": "Cannot connect to the Docker daemon"}.get
    assert containers.choose_engine(None, which=both, problem=no_daemon) == "podman"


def test_no_engine_says_why_and_how_to_run_locally() -> None:
    with pytest.raises(EngineError, match="--local"):
        containers.choose_engine(None, which=lambda name: None)
    with pytest.raises(EngineError, match="docker is not on PATH"):
        containers.choose_engine("docker", which={"podman": "/usr/bin/podman"}.get)
    with pytest.raises(EngineError, match="docker version` failed: Cannot connect"):
        containers.choose_engine(
            "docker", which={"docker": "/usr/bin/docker"}.get, problem=lambda engine: "Cannot connect"
        )
    with pytest.raises(EngineError, match="one of podman, docker"):
        containers.choose_engine("lxc")


def test_capability_bit_is_read_from_proc_status() -> None:
    assert containers._capability("CapEff:\t000001fffeffffff\n", 24) is False
    assert containers._capability("CapEff:\t000001ffffffffff\n", 24) is True


def test_tags_name_version_commit_and_jax_build() -> None:
    commit = "2d71584" + "0" * 33
    assert containers.image_name(Path("docker/mjx.Dockerfile")) == "ampbench-mjx"
    assert (
        containers.image_tag("ampbench-mjx", "0.1.0", commit, "cpu") == "ampbench-mjx:0.1.0-2d7158400000-cpu"
    )
    dirty = containers.image_tag("ampbench-mjx", "0.1.0", commit + "-dirty", "cuda12")
    assert dirty == "ampbench-mjx:0.1.0-2d7158400000-dirty-cuda12"
    assert (
        containers.image_tag("ampbench-isaaclab", "0.1.0", commit) == "ampbench-isaaclab:0.1.0-2d7158400000"
    )
    with pytest.raises(EngineError, match="cpu, cuda12, cuda13"):
        containers.image_tag("ampbench-mjx", "0.1.0", commit, "rocm")


def test_restricted_podman_gets_runc_limits_and_chroot_builds() -> None:
    run = containers.run_command(RESTRICTED, "img:1", ["cards", "list"])
    assert flag_values(run, "--runtime") == ["runc"]
    assert flag_values(run, "--ulimit") == ["nofile=20000:20000", "nproc=32768:32768"]
    assert flag_values(run, "--pull") == ["never"]
    assert flag_values(run, "--network") == ["none"]
    assert flag_values(run, "--user") == ["0:0"]
    assert run[-3:] == ["img:1", "cards", "list"]
    build = containers.build_command(RESTRICTED, Path("docker/mjx.Dockerfile"), "img:1", {"JAX": "cpu"})
    assert flag_values(build, "--isolation") == ["chroot"]
    assert flag_values(build, "--network") == ["host"]
    assert flag_values(build, "--build-arg") == ["JAX=cpu"]
    assert build[-1] == "."


def test_docker_and_rootless_podman_get_none_of_the_podman_settings() -> None:
    for host in (DOCKER, ROOTLESS):
        run = containers.run_command(host, "img:1", ["report"])
        assert "--runtime" not in run and "--ulimit" not in run
        build = containers.build_command(host, Path("x.Dockerfile"), "img:1", {})
        assert "--isolation" not in build and "--network" not in build
    assert flag_values(containers.run_command(DOCKER, "img:1", []), "--user") == ["1000:1001"]
    assert flag_values(containers.run_command(ROOTLESS, "img:1", []), "--userns") == ["keep-id"]
    assert "--user" not in containers.run_command(ROOTLESS, "img:1", [])


def test_gpu_flags_per_engine() -> None:
    assert flag_values(containers.run_command(DOCKER, "i", [], gpu=True), "--gpus") == ["all"]
    assert flag_values(containers.run_command(RESTRICTED, "i", [], gpu=True), "--device") == [
        "nvidia.com/gpu=all"
    ]
    assert "--gpus" not in containers.run_command(DOCKER, "i", [])


def test_network_only_when_asked() -> None:
    assert flag_values(containers.run_command(RESTRICTED, "i", [], network=True), "--network") == ["host"]
    assert "--network" not in containers.run_command(DOCKER, "i", [], network=True)


def test_mounts_and_provenance_env(tmp_path: Path) -> None:
    mounts = containers.workspace_mounts(
        runs=tmp_path / "runs", results=tmp_path / "results", clips=tmp_path / "clips", cache=tmp_path / "c"
    )
    targets = {mount.container: mount.host for mount in mounts}
    assert targets["/opt/ampbench/results"] == tmp_path / "results"
    assert targets["/opt/ampbench/data/clips"] == tmp_path / "clips"
    assert targets["/cache/xla"] == tmp_path / "c" / "xla"
    assert all(mount.host.is_dir() for mount in mounts)  # podman refuses a missing mount source
    env = containers.provenance_env("img:1", "sha256:ab", "podman 4.3.1")
    run = containers.run_command(DOCKER, "img:1", [], mounts=[*mounts, Mount(tmp_path, "/x", True)], env=env)
    volumes = flag_values(run, "--volume")
    assert f"{tmp_path / 'results'}:/opt/ampbench/results:rw" in volumes
    assert f"{tmp_path}:/x:ro" in volumes
    assert "AMPBENCH_CONTAINER_DIGEST=sha256:ab" in flag_values(run, "--env")
    podman = containers.run_command(RESTRICTED, "img:1", [], mounts=mounts[:1])
    assert flag_values(podman, "--volume") == [f"{tmp_path / 'runs'}:/opt/ampbench/runs:rw,z"]


def test_digests_normalised() -> None:
    assert containers.normalise_digest("31fb37ca\n") == "sha256:31fb37ca"
    assert containers.normalise_digest("sha256:31fb37ca") == "sha256:31fb37ca"
    with pytest.raises(EngineError):
        containers.normalise_digest("  ")
