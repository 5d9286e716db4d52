"""Container engines for the nox sessions: which engine to use, and the command lines that build the
images and run ampbench inside them.

Docker and podman take the same commands, apart from GPUs (`--gpus all`; podman: the CDI device
`nvidia.com/gpu=all`), user mapping and what some hosts need of podman. Those host needs are read once
into a `Host` (`read_host`); every command line is then a pure function of it, so the tests build them
without an engine. Standard library only: noxfile.py imports this module before any venv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ampbench.core.provenance import CONTAINER_ENV

ENGINES = ("podman", "docker")
JAX_BUILDS = ("cpu", "cuda12", "cuda13")
WORKDIR = "/opt/ampbench"
"""The image's working folder: cards in benchmarks/, run folders, results and clips mounted beside them."""
CACHES = {"xla": "/cache/xla", "warp": "/cache/warp", "ampbench": "/cache/ampbench"}
"""The images' cache volumes (XLA and Warp compilations, ampbench's downloads), mounted from host
folders so a second run reuses them."""

PODMAN_DEFAULT_NOFILE = 1048576
"""Rootful podman raises a container's open-file limit to this; without CAP_SYS_RESOURCE that fails
(runc: `error setting rlimit type 7: operation not permitted`), so there the host's own hard limit is
passed instead."""
RESTRICTED_NPROC = 32768
"""The process limit passed where podman cannot raise limits: runc there refused every value above
32768 (`rlimit type 6`), even below the host's hard limit; training runs a few dozen threads."""
CAP_SYS_RESOURCE = 24


class EngineError(RuntimeError):
    """No usable container engine or image; the message says what is missing and what to run instead."""


@dataclass(frozen=True)
class Host:
    """What the command lines depend on, read from the machine by `read_host`."""

    engine: str
    uid: int
    gid: int
    cgroup_v1: bool
    can_raise_limits: bool
    nofile_hard: int
    nproc_hard: int
    tty: bool = False

    @property
    def rootless_podman(self) -> bool:
        return self.engine == "podman" and self.uid != 0

    @property
    def restricted_podman(self) -> bool:
        """Podman on a host where its OCI runtime defaults fail: cgroups v1 (crun refuses hybrid
        cgroups), or rootful without CAP_SYS_RESOURCE for its default limits (rootless podman keeps the
        user's own limits)."""
        return self.engine == "podman" and (self.cgroup_v1 or self.raises_limits_without_capability)

    @property
    def raises_limits_without_capability(self) -> bool:
        return self.engine == "podman" and not self.rootless_podman and not self.can_raise_limits


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False


def engine_problem(engine: str) -> str | None:
    """None when `ENGINE version` answers (for docker: its daemon too), else what it said."""
    try:
        found = subprocess.run([engine, "version"], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if found.returncode == 0:
        return None
    lines = (found.stderr or found.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {found.returncode}"


def choose_engine(
    requested: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    problem: Callable[[str], str | None] = engine_problem,
) -> str:
    """The requested engine, or the first of podman and docker that is installed and answers."""
    if requested is not None and requested not in ENGINES:
        raise EngineError(f"--engine must be one of {', '.join(ENGINES)}, not {requested!r}")
    problems = []
    for engine in (requested,) if requested else ENGINES:
        if not which(engine):
            problems.append(f"{engine} is not on PATH")
            continue
        said = problem(engine)
        if said is None:
            return engine
        problems.append(f"{engine} is installed but `{engine} version` failed: {said}")
    raise EngineError(
        f"no usable container engine ({'; '.join(problems)}). Install or start one (Debian: apt-get "
        "install podman buildah runc), or run without containers in a local venv: add `-- --local`, "
        "e.g. `nox -s phase2 -- --smoke --local`"
    )


def _capability(status: str, bit: int) -> bool:
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return True


def read_host(engine: str) -> Host:
    """The facts of this machine the command lines need (Linux; elsewhere the engine runs in a VM and
    none of the podman settings apply)."""
    import resource

    status = Path("/proc/self/status")
    cgroup_root = Path("/sys/fs/cgroup")
    return Host(
        engine=engine,
        uid=os.getuid(),
        gid=os.getgid(),
        cgroup_v1=cgroup_root.is_dir() and not (cgroup_root / "cgroup.controllers").exists(),
        can_raise_limits=_capability(status.read_text(), CAP_SYS_RESOURCE) if status.exists() else True,
        nofile_hard=resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        nproc_hard=resource.getrlimit(resource.RLIMIT_NPROC)[1],
        tty=sys.stdout.isatty(),
    )


def image_name(dockerfile: Path) -> str:
    """`docker/mjx.Dockerfile` -> `ampbench-mjx`."""
    return "ampbench-" + Path(dockerfile).name.removesuffix(".Dockerfile")


def image_tag(name: str, version: str, commit: str, jax: str | None = None) -> str:
    """`ampbench-mjx:0.1.0-<commit 12>-cpu` (the JAX build last, for images that choose one); a tree
    with uncommitted changes gets `-dirty` after the commit, and such a tag is rebuilt on every build
    (its content may differ from the last one)."""
    if jax is not None and jax not in JAX_BUILDS:
        raise EngineError(f"JAX build must be one of {', '.join(JAX_BUILDS)}, not {jax!r}")
    dirty = commit.endswith("-dirty")
    short = commit.removesuffix("-dirty")[:12]
    return f"{name}:{version}-{short}{'-dirty' if dirty else ''}{f'-{jax}' if jax else ''}"


def _limit_flags(host: Host) -> list[str]:
    if not host.raises_limits_without_capability:
        return []
    nofile = min(host.nofile_hard, PODMAN_DEFAULT_NOFILE)
    nproc = min(host.nproc_hard, RESTRICTED_NPROC)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def build_command(
    host: Host, dockerfile: Path, tag: str, build_args: Mapping[str, str], context: Path = Path(".")
) -> list[str]:
    """`ENGINE build`; on restricted podman hosts the RUN steps use chroot isolation (no OCI runtime,
    so no cgroup or limit settings) and the host's network."""
    command = [host.engine, "build"]
    if host.restricted_podman:
        command += ["--isolation", "chroot", "--network", "host"]
    for key, value in build_args.items():
        command += ["--build-arg", f"{key}={value}"]
    return [*command, "--tag", tag, "--file", str(dockerfile), str(context)]


def gpu_flags(engine: str) -> list[str]:
    """All NVIDIA GPUs: Docker's `--gpus` (NVIDIA container toolkit) or podman's CDI device."""
    return ["--gpus", "all"] if engine == "docker" else ["--device", "nvidia.com/gpu=all"]


def user_flags(host: Host) -> list[str]:
    """Run as the host user, so files written into the mounted folders belong to whoever ran nox:
    rootless podman maps that user in with keep-id; rootful engines get the ids themselves."""
    if host.rootless_podman:
        return ["--userns", "keep-id"]
    return ["--user", f"{host.uid}:{host.gid}"]


def workspace_mounts(*, runs: Path, results: Path, clips: Path, cache: Path) -> list[Mount]:
    """Run folders, results and clips at the image's working folder (so `runs/...` and `results/...`
    name the same folders inside and out), and the compilation caches under `cache`; the host folders
    are made where missing (an engine refuses a mount whose source does not exist)."""
    mounts = [
        Mount(Path(runs), f"{WORKDIR}/runs"),
        Mount(Path(results), f"{WORKDIR}/results"),
        Mount(Path(clips), f"{WORKDIR}/data/clips"),
    ]
    mounts += [Mount(Path(cache) / name, target) for name, target in CACHES.items()]
    for mount in mounts:
        mount.host.mkdir(parents=True, exist_ok=True)
    return mounts


def run_command(
    host: Host,
    image: str,
    args: Sequence[str],
    *,
    mounts: Sequence[Mount] = (),
    env: Mapping[str, str] | None = None,
    gpu: bool = False,
    network: bool = False,
) -> list[str]:
    """`ENGINE run ... IMAGE ARGS...` (the image's entrypoint is `ampbench`). No network unless asked
    (training and scoring need none); `--pull never` always, since images are built here and a missing
    one should say so rather than try a registry."""
    command = [host.engine, "run", "--rm", "--pull", "never"]
    if host.tty:
        command.append("--tty")
    if host.engine == "podman" and host.cgroup_v1:
        command += ["--runtime", "runc"]
    command += _limit_flags(host)
    if network:
        command += ["--network", "host"] if host.restricted_podman else []
    else:
        command += ["--network", "none"]
    command += user_flags(host)
    if gpu:
        command += gpu_flags(host.engine)
    relabel = ",z" if host.engine == "podman" else ""
    for mount in mounts:
        options = ("ro" if mount.read_only else "rw") + relabel
        command += ["--volume", f"{Path(mount.host).resolve()}:{mount.container}:{options}"]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    return [*command, image, *args]


def provenance_env(image: str, digest: str, engine_version: str) -> dict[str, str]:
    """What the container is told about itself, for the provenance of its run and score files."""
    values = {"image": image, "digest": digest, "engine": engine_version}
    return {CONTAINER_ENV[key]: value for key, value in values.items()}


def normalise_digest(image_id: str) -> str:
    """Docker prints image ids as `sha256:<hex>`, podman as the bare hex; both become `sha256:<hex>`."""
    image_id = image_id.strip()
    if not image_id:
        raise EngineError("the engine returned an empty image id")
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


# ---- the few calls that ask the engine itself --------------------------------------------------------


def image_digest(engine: str, image: str) -> str | None:
    """The image's id (the digest of its configuration, which names its content on any engine), or
    None when the engine has no such image."""
    found = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return normalise_digest(found.stdout) if found.returncode == 0 else None


def engine_version(engine: str) -> str:
    found = subprocess.run(
        [engine, "version", "--format", "{{.Client.Version}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return f"{engine} {found.stdout.strip() or 'unknown version'}"
