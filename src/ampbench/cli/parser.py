"""The `ampbench` command line: its arguments, their types and the command each one runs."""

from __future__ import annotations

import argparse
import math

from ampbench.cli import commands
from ampbench.core.backends import BACKENDS
from ampbench.pipeline.reproduce import PHASES


def _card_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overlay", action="append", default=[], help="named overlay (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted.key=value")


def positive_number(text: str) -> float:
    """A finite number > 0 (argparse type): a NaN, infinite or negative budget would be ignored."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, found {text!r}")
    return value


def seed_list(text: str) -> tuple[int, ...]:
    """Comma-separated integer seeds, e.g. `0,1,2` (argparse type)."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, found {text!r}") from None
    return seeds


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ampbench",
        description="ampbench: train, score and compare AMP humanoid locomotion from experiment cards.",
    )
    parser.add_argument(
        "--compile-cache",
        metavar="DIR|off",
        help="JAX's persistent compilation cache and the traced programs kept beside it, for train, "
        "collect and score (default: $AMPBENCH_COMPILE_CACHE or ~/.cache/ampbench/jax; `off` traces and "
        "compiles everything afresh)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    cards = sub.add_parser("cards", help="validate, show and list experiment cards").add_subparsers(
        dest="cards_command", required=True
    )
    validate = cards.add_parser("validate", help="check card files (and their smoke/eval overlays)")
    validate.add_argument("cards", nargs="+")
    validate.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the check that training and scoring fit this machine's memory (validating on a "
        "machine other than the one that runs the card, such as a cluster's login node; train and score "
        "check again where they run)",
    )
    _card_args(validate)
    validate.set_defaults(func=commands.cmd_cards_validate)
    show = cards.add_parser("show", help="print a card with every default resolved")
    show.add_argument("card")
    _card_args(show)
    show.set_defaults(func=commands.cmd_cards_show)
    listing = cards.add_parser("list", help="one line per card")
    listing.add_argument("dir", nargs="?", default="benchmarks")
    listing.set_defaults(func=commands.cmd_cards_list)

    data = sub.add_parser("data", help="reference clips").add_subparsers(dest="data_command", required=True)
    fetch = data.add_parser("fetch", help="download the public clips (or import a local copy) into the cache")
    fetch.add_argument("--from", dest="source", help="a folder laid out like shared/mocap")
    fetch.add_argument("--dest", help="clip cache (default $AMPBENCH_DATA or ./data/clips)")
    fetch.add_argument(
        "--no-isaaclab",
        dest="isaaclab",
        action="store_false",
        help="skip Isaac Lab's clips (wheel from PyPI)",
    )
    fetch.set_defaults(func=commands.cmd_data_fetch)
    convert = data.add_parser("convert", help="convert one clip file or a folder")
    convert.add_argument("kind", choices=["deepmimic", "poselib", "isaaclab", "csv2npz", "npz2csv"])
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--fill-missing", action="store_true", help="fill absent fields, recorded")
    convert.add_argument(
        "--keep-repeated-frames",
        action="store_true",
        help="poselib/isaaclab: keep poses stored twice at the file's fps (default: drop them)",
    )
    convert.set_defaults(func=commands.cmd_data_convert)

    train = sub.add_parser("train", help="train a card's seeds into run folders")
    train.add_argument("card", nargs="?")
    train.add_argument("--smoke", action="store_true", help="apply the smoke overlay (CPU budget)")
    train.add_argument(
        "--backend",
        choices=BACKENDS,
        help="default: the card's, else mjx where JAX has a GPU and mujoco (MuJoCo C) on a CPU-only machine",
    )
    train.add_argument("--seed", type=int, help="train this seed only")
    train.add_argument(
        "--seeds",
        type=seed_list,
        help="train these of the card's training.seeds, e.g. 0,1,2 (default all); on mjx together in one "
        "process and one compiled update, elsewhere one after another",
    )
    train.add_argument("--runs", default="runs", help="root of run folders")
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        nargs="+",
        help="continue runs from their last checkpoints (on mjx, runs of one card together)",
    )
    train.add_argument(
        "--minutes",
        type=positive_number,
        help="wall-clock budget of each training (on mjx all seeds' together): stop cleanly with a "
        "checkpoint after the update that passes it (resume later with --resume)",
    )
    _card_args(train)
    train.set_defaults(func=commands.cmd_train)

    collect = sub.add_parser("collect", help="play a trained policy and record a torque-motion clip")
    collect.add_argument("run", help="run folder (its latest checkpoint is played)")
    collect.add_argument(
        "--name",
        required=True,
        help="clip folder in the cache, e.g. recorded/phase1_walk (one clip per episode)",
    )
    collect.add_argument("--envs", type=positive_int, default=16, help="episodes recorded in parallel")
    collect.add_argument("--seconds", type=positive_number, default=10.0, help="longest episode to record")
    collect.add_argument(
        "--distance", type=positive_number, help="stop an episode after this travelled distance (m)"
    )
    collect.add_argument(
        "--skill", help="command this skill (default: each episode the skill of its start clip)"
    )
    collect.add_argument(
        "--action-noise",
        choices=["policy", "none"],
        default="policy",
        help="play with the policy's training noise (default; what torque cards expect, see "
        "amp.reference_torques) or its deterministic mean",
    )
    collect.add_argument(
        "--skip-seconds", type=float, default=1.0, help="leave out this much of each episode after reset"
    )
    collect.add_argument("--csv", action="store_true", help="also write CSV")
    collect.add_argument("--force", action="store_true", help="replace an existing clip of that name")
    collect.add_argument("--seed", type=int, default=0)
    collect.set_defaults(func=commands.cmd_collect)

    score = sub.add_parser("score", help="score run folders into results/")
    score.add_argument("runs", nargs="+", metavar="RUN_DIR")
    score.add_argument("--results", default="results")
    score.add_argument("--smoke", action="store_true", help="score with the smoke evaluation grid")
    score.add_argument(
        "--on",
        choices=BACKENDS,
        help="score on this backend instead of the one the run trained on (the sim-to-sim check)",
    )
    score.add_argument(
        "--no-render",
        dest="render",
        action="store_false",
        help="skip the videos and filmstrips of the policy beside its clip (`ampbench render`)",
    )
    score.set_defaults(func=commands.cmd_score)

    render = sub.add_parser(
        "render", help="videos and filmstrips of run folders' policies beside their clips, into results/"
    )
    render.add_argument("runs", nargs="+", metavar="RUN_DIR")
    render.add_argument("--results", default="results")
    render.add_argument("--on", choices=BACKENDS, help="play the policy on this backend")
    render.set_defaults(func=commands.cmd_render)

    pack = sub.add_parser(
        "pack",
        help="run folders as archives that score and resume elsewhere, each at most --max-mib "
        "(unpack with tar -xzf ARCHIVE -C RUNS_ROOT)",
    )
    pack.add_argument("runs", nargs="+", metavar="RUN_DIR")
    pack.add_argument("--out", required=True, help="folder for the archives")
    pack.add_argument("--max-mib", type=positive_number, default=16.0, help="largest archive (default 16)")
    pack.set_defaults(func=commands.cmd_pack)

    probe = sub.add_parser(
        "probe", help="time a few training updates at each env batch size; the fastest is printed last"
    )
    probe.add_argument("card")
    probe.add_argument("--backend", choices=BACKENDS)
    probe.add_argument("--seeds", type=seed_list, help="default: the card's training.seeds")
    probe.add_argument(
        "--sizes", type=seed_list, default=(1024, 4096, 8192), help="envs per seed, e.g. 1024,4096"
    )
    probe.add_argument("--updates", type=positive_int, default=3, help="timed updates after the first")
    probe.add_argument("--seconds", type=positive_number, default=150.0, help="time budget of the probe")
    probe.add_argument("--out", required=True, help="folder for probe.json and probe.md")
    _card_args(probe)
    probe.set_defaults(func=commands.cmd_probe)

    reproduce = sub.add_parser(
        "reproduce",
        help="train and score every card of a phase (resuming started runs, keeping finished ones)",
    )
    reproduce.add_argument("phase", choices=PHASES)
    reproduce.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="backend to train on (repeatable; default: each card's, else mjx with a GPU, mujoco without)",
    )
    reproduce.add_argument(
        "--seeds", type=int, help="the first N of each card's training.seeds (default all)"
    )
    reproduce.add_argument("--smoke", action="store_true", help="smoke overlay and smoke evaluation grid")
    reproduce.add_argument("--cards", default="benchmarks", help="folder of card files")
    reproduce.add_argument("--runs", default="runs", help="root of run folders")
    reproduce.add_argument("--results", default="results")
    reproduce.add_argument(
        "--status", action="store_true", help="each run's state, its score and its SLURM jobs; starts nothing"
    )
    cluster = reproduce.add_argument_group(
        "cluster", "--launcher slurm: one job per training and scoring (docs/cluster.md)"
    )
    cluster.add_argument("--launcher", choices=["local", "slurm"], default="local")
    cluster.add_argument("--launcher-file", help="YAML file of the settings below (the command line wins)")
    cluster.add_argument("--partition")
    cluster.add_argument("--account")
    cluster.add_argument("--gpus-per-job", type=int)
    cluster.add_argument("--cpus-per-job", type=int)
    cluster.add_argument("--time-minutes", type=int, help="each job's time limit (default 240)")
    cluster.add_argument(
        "--sbatch", action="append", default=[], metavar="KEY=VALUE", help="extra sbatch option (repeatable)"
    )
    cluster.add_argument(
        "--container",
        choices=["podman", "docker"],
        help="run each job in the project's image with this engine",
    )
    cluster.add_argument("--image", help="the image for --container (e.g. from `nox -s build`)")
    reproduce.set_defaults(func=commands.cmd_reproduce)

    offline = sub.add_parser("offline", help="a bundle to train and score on a machine without network")
    gather = offline.add_subparsers(dest="offline_command", required=True).add_parser(
        "gather", help="wheels the target lacks, the card, its clips and run.sh, into one folder"
    )
    gather.add_argument("out", help="bundle folder to write")
    gather.add_argument("--have", required=True, help="`pip freeze` of the target machine's Python")
    gather.add_argument("--card", default="benchmarks/phase2.yaml")
    gather.add_argument("--extra", default="mjx", choices=["mjx", "mujoco"], help="install extra to bundle")
    gather.set_defaults(func=commands.cmd_offline_gather)

    report = sub.add_parser("report", help="render results/README.md and plots from score files")
    report.add_argument("--results", default="results")
    report.set_defaults(func=commands.cmd_report)

    compare = sub.add_parser("compare", help="the same cards on several backends side by side")
    compare.add_argument("--backends", nargs="+", default=["mjx", "isaaclab"])
    compare.add_argument("--results", default="results")
    compare.set_defaults(func=commands.cmd_compare)
    return parser
