"""`ampbench ...`: the one place that knows every part; each command is a thin call into a module."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from ampbench.cards import CardError, load_card
from ampbench.core import compile_cache
from ampbench.core.backends import BACKENDS
from ampbench.core.stop import stop_on_signals, stop_signal
from ampbench.motion.clip import ClipError
from ampbench.pipeline.memory import check_fits, check_scoring_fits
from ampbench.pipeline.reproduce import PHASES

COMPILING_COMMANDS = ("train", "collect", "score", "render")


def _card_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overlay", action="append", default=[], help="named overlay (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted.key=value")


def _load(args: argparse.Namespace, path: str, extra_overlays: tuple[str, ...] = ()):
    return load_card(path, overlays=(*extra_overlays, *args.overlay), overrides=tuple(args.overrides))


# ---- cards ------------------------------------------------------------------------------------------


def _check_clips(card) -> str:
    """The card's clips against its model's DOF and body names, where they are fetched; says which."""
    from ampbench.motion.loader import check_model_names, clip_files, load_library
    from ampbench.robot.model import humanoid_spec

    if not all(clip_files(ref.name) for ref in card.mocap.clips):
        return "clips not fetched here, not checked"
    spec = humanoid_spec(card.humanoid.model)
    check_model_names(load_library(card.mocap), spec.dof_names, spec.body_names)
    return "clips match the model"


def cmd_cards_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.cards:
        try:
            card = _load(args, path)
            for overlay in ("smoke", "eval"):
                load_card(path, overlays=(overlay,))
            clips = _check_clips(card)
            if not args.no_memory:
                check_fits(card)
                check_scoring_fits(card)
        except (CardError, ClipError, ValueError) as error:
            print(error if isinstance(error, CardError) else f"{path}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"ok  {path}  ({card.name}, {card.phase}, hash {card.content_hash()}; {clips})")
    return 1 if failed else 0


def cmd_cards_show(args: argparse.Namespace) -> int:
    card = _load(args, args.card)
    print(f"# {args.card} (hash {card.content_hash()})")
    print(yaml.safe_dump(card.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def cmd_cards_list(args: argparse.Namespace) -> int:
    for path in sorted(Path(args.dir).glob("*.yaml")):
        card = load_card(path)
        print(f"{path}  {card.phase:9s} {card.amp.feature_set:12s} {card.description.split('. ')[0]}")
    return 0


# ---- data -------------------------------------------------------------------------------------------


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from ampbench.motion import fetch

    dest = Path(args.dest) if args.dest else fetch.data_dir()
    if args.source:
        written = fetch.import_local(Path(args.source), dest)
    else:
        written = fetch.fetch_public(dest, isaaclab=args.isaaclab)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_data_convert(args: argparse.Namespace) -> int:
    from ampbench.motion import fetch
    from ampbench.motion.convert import csvio

    src, dst = Path(args.src), Path(args.dst)
    if args.kind in ("csv2npz", "npz2csv"):
        target = "npz" if args.kind == "csv2npz" else "csv"
        written = (
            csvio.convert_folder(src, dst, to=target, fill_missing=args.fill_missing)
            if src.is_dir()
            else [_convert_one_csv(src, dst, target, args.fill_missing)]
        )
    else:
        written = fetch.convert_source(args.kind, src, dst, keep_repeated_frames=args.keep_repeated_frames)
    for path in written:
        print(f"wrote {path}")
    return 0


def _convert_one_csv(src: Path, dst: Path, target: str, fill_missing: bool) -> Path:
    from ampbench.motion import clip_files
    from ampbench.motion.convert import csvio

    if target == "npz":
        clip_files.save_clip(csvio.csv_to_clip(src, fill_missing=fill_missing), dst)
    else:
        csvio.clip_to_csv(clip_files.load_clip(src, fill_missing=fill_missing), dst)
    return dst


# ---- training, collection, scoring ------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from ampbench.pipeline.train import resume_runs, start_runs
    from ampbench.sim import default_backend

    if args.resume:
        given = (
            args.card or args.smoke or args.overlay or args.overrides or args.seed is not None or args.seeds
        )
        if given:
            raise ValueError("--resume continues runs exactly as they were started: give only run folders")
        for run_dir in resume_runs([Path(path) for path in args.resume], minutes=args.minutes):
            print(run_dir)
        return _stopped_status()
    if args.seed is not None and args.seeds:
        raise ValueError("give --seed or --seeds, not both")
    overlays = ("smoke",) if args.smoke else ()
    card = _load(args, args.card, overlays)
    seeds = (args.seed,) if args.seed is not None else args.seeds or card.training.seeds
    for run_dir in start_runs(
        card,
        backend=args.backend or default_backend(card),
        seeds=seeds,
        runs_root=Path(args.runs),
        overlays=(*overlays, *args.overlay),
        overrides=tuple(args.overrides),
        minutes=args.minutes,
    ):
        print(run_dir)
    return _stopped_status()


def _stopped_status() -> int:
    """0, or 128 + the signal that stopped training early (its checkpoint written: resume continues)."""
    signum = stop_signal()
    return 0 if signum is None else 128 + signum


def cmd_offline_gather(args: argparse.Namespace) -> int:
    from ampbench.pipeline.offline import gather

    out = gather(Path(args.out), have_file=Path(args.have), card_path=Path(args.card), extra=args.extra)
    print(f"wrote {out}: copy it to the target and run `bash {out}/run.sh RESULT_DIR [train options]`")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from ampbench.pipeline.collect import collect

    for path in collect(
        Path(args.run),
        name=args.name,
        envs=args.envs,
        seconds=args.seconds,
        distance=args.distance,
        skill=args.skill,
        csv=args.csv,
        seed=args.seed,
        force=args.force,
        action_noise=args.action_noise == "policy",
        skip_seconds=args.skip_seconds,
    ):
        print(f"wrote {path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from ampbench.pipeline.score import score_run

    failed, broken = 0, []
    for run in args.runs:
        try:
            document, path = score_run(
                Path(run), results_root=Path(args.results), smoke=args.smoke, on=args.on
            )
        except (ValueError, OSError, RuntimeError) as error:  # report it, score the other folders
            print(f"ampbench: {run}: not scored: {error}", file=sys.stderr)
            broken.append(str(run))
            continue
        print(f"wrote {path}")
        if args.render:
            _render_where_possible(Path(run), args)
        for item in document["expectations"]:
            what = (
                f"{item['metric']} at {item['force']} N x {item['duration']} s"
                if item["force"]
                else item["metric"]
            )
            print(
                f"  {'PASS' if item['passed'] else 'FAIL'}  {what} = {item['value']} "
                f"(expected >= {item['at_least']})"
            )
            failed += not item["passed"]
    if broken:
        print(f"ampbench: {len(broken)} of {len(args.runs)} run folders not scored: {', '.join(broken)}")
        return 2
    return 1 if failed else 0


def _render_where_possible(run: Path, args: argparse.Namespace) -> None:
    """The score's videos, or one line saying why there are none (no offscreen OpenGL here)."""
    import mujoco

    try:
        from ampbench.pipeline.render import render_run

        for path in render_run(run, results_root=Path(args.results), on=args.on):
            print(f"wrote {path}")
    except ImportError as error:
        print(f"no videos for {run}: {error} (install ampbench[render])")
    except mujoco.FatalError as error:
        print(f"no videos for {run}: MuJoCo could not render offscreen ({error}); see docs/installation.md")
    except (ValueError, OSError, RuntimeError) as error:  # no clips here, ffmpeg, disk: the score stands
        print(f"no videos for {run}: {error}")


def cmd_render(args: argparse.Namespace) -> int:
    from ampbench.pipeline.render import render_run

    for run in args.runs:
        for path in render_run(Path(run), results_root=Path(args.results), on=args.on):
            print(f"wrote {path}")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from ampbench.pipeline.pack import MIB, pack_run

    for run in args.runs:
        out = pack_run(Path(run), Path(args.out), max_bytes=int(args.max_mib * MIB))
        print(f"wrote {out} ({out.stat().st_size / MIB:.1f} MiB)")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from ampbench.core.files import atomic_write_bytes, atomic_write_json
    from ampbench.pipeline.probe import fastest, probe_sizes, table
    from ampbench.sim import default_backend, get_simulator

    card = _load(args, args.card)
    backend = args.backend or default_backend(card)
    seeds = args.seeds or card.training.seeds
    rows = probe_sizes(
        card, backend=backend, seeds=seeds, sizes=args.sizes, updates=args.updates, seconds=args.seconds
    )
    device = get_simulator(backend).device()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out / "probe.json", {"card": card.name, "backend": backend, "device": device, "rows": rows}
    )
    atomic_write_bytes(out / "probe.md", table(rows, device).encode())
    print(table(rows, device))
    print(f"fastest: {fastest(rows)}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from ampbench.pipeline.reproduce import phase_cards, plan, reproduce

    if args.status or args.launcher == "slurm":
        from ampbench.pipeline import slurm

        overlays = ("smoke",) if args.smoke else ()
        jobs = plan(
            phase_cards(args.phase, Path(args.cards), overlays), tuple(args.backend or ()), args.seeds
        )
        folders = {"runs_root": Path(args.runs), "results_root": Path(args.results)}
        if args.status:
            print(slurm.status(jobs, phase=args.phase, smoke=args.smoke, **folders))
            return 0
        if bool(args.container) != bool(args.image):
            raise ValueError(
                "--container ENGINE and --image IMAGE go together (or set both in the launcher file)"
            )
        container = {"engine": args.container, "image": args.image} if args.container else None
        settings = slurm.load_settings(
            Path(args.launcher_file) if args.launcher_file else None,
            {
                "partition": args.partition,
                "account": args.account,
                "gpus_per_job": args.gpus_per_job,
                "cpus_per_job": args.cpus_per_job,
                "time_minutes": args.time_minutes,
                "sbatch": dict(_key_value(item, "--sbatch") for item in args.sbatch),
                "container": container,
            },
        )
        slurm.submit(
            args.phase, jobs, settings, smoke=args.smoke, cards_dir=Path(args.cards), echo=print, **folders
        )
        print(f"follow with `ampbench reproduce {args.phase}{' --smoke' if args.smoke else ''} --status`")
        return 0
    passed = reproduce(
        args.phase,
        backends=tuple(args.backend or ()),
        seeds=args.seeds,
        smoke=args.smoke,
        cards_dir=Path(args.cards),
        runs_root=Path(args.runs),
        results_root=Path(args.results),
        echo=lambda line: print(line, flush=True),
    )
    return 0 if passed else 1


def _key_value(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{option} takes KEY=VALUE, e.g. qos=normal; found {text!r}")
    return key.lstrip("-"), value


def cmd_report(args: argparse.Namespace) -> int:
    from ampbench.report.tables import render_results

    print(f"wrote {render_results(Path(args.results))}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ampbench.report.compare import compare

    print(compare(Path(args.results), backends=tuple(args.backends)))
    return 0


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
    parser = argparse.ArgumentParser(prog="ampbench", description=__doc__)
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
    validate.set_defaults(func=cmd_cards_validate)
    show = cards.add_parser("show", help="print a card with every default resolved")
    show.add_argument("card")
    _card_args(show)
    show.set_defaults(func=cmd_cards_show)
    listing = cards.add_parser("list", help="one line per card")
    listing.add_argument("dir", nargs="?", default="benchmarks")
    listing.set_defaults(func=cmd_cards_list)

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
    fetch.set_defaults(func=cmd_data_fetch)
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
    convert.set_defaults(func=cmd_data_convert)

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
    train.set_defaults(func=cmd_train)

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
    collect.set_defaults(func=cmd_collect)

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
    score.set_defaults(func=cmd_score)

    render = sub.add_parser(
        "render", help="videos and filmstrips of run folders' policies beside their clips, into results/"
    )
    render.add_argument("runs", nargs="+", metavar="RUN_DIR")
    render.add_argument("--results", default="results")
    render.add_argument("--on", choices=BACKENDS, help="play the policy on this backend")
    render.set_defaults(func=cmd_render)

    pack = sub.add_parser(
        "pack",
        help="run folders as archives that score and resume elsewhere, each at most --max-mib "
        "(unpack with tar -xzf ARCHIVE -C RUNS_ROOT)",
    )
    pack.add_argument("runs", nargs="+", metavar="RUN_DIR")
    pack.add_argument("--out", required=True, help="folder for the archives")
    pack.add_argument("--max-mib", type=positive_number, default=16.0, help="largest archive (default 16)")
    pack.set_defaults(func=cmd_pack)

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
    probe.set_defaults(func=cmd_probe)

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
    reproduce.set_defaults(func=cmd_reproduce)

    offline = sub.add_parser("offline", help="a bundle to train and score on a machine without network")
    gather = offline.add_subparsers(dest="offline_command", required=True).add_parser(
        "gather", help="wheels the target lacks, the card, its clips and run.sh, into one folder"
    )
    gather.add_argument("out", help="bundle folder to write")
    gather.add_argument("--have", required=True, help="`pip freeze` of the target machine's Python")
    gather.add_argument("--card", default="benchmarks/phase2.yaml")
    gather.add_argument("--extra", default="mjx", choices=["mjx", "mujoco"], help="install extra to bundle")
    gather.set_defaults(func=cmd_offline_gather)

    report = sub.add_parser("report", help="render results/README.md and plots from score files")
    report.add_argument("--results", default="results")
    report.set_defaults(func=cmd_report)

    compare = sub.add_parser("compare", help="the same cards on several backends side by side")
    compare.add_argument("--backends", nargs="+", default=["mjx", "isaaclab"])
    compare.add_argument("--results", default="results")
    compare.set_defaults(func=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train" and not (args.card or args.resume):
        build_parser().error("train needs a CARD or --resume RUN_DIR")
    try:
        if args.command in COMPILING_COMMANDS:
            compile_cache.enable(args.compile_cache)
        if args.command in ("train", "reproduce"):
            stop_on_signals()
        return args.func(args)
    except (CardError, ValueError, OSError, RuntimeError) as error:  # OSError: disk full, exists, ...
        print(f"ampbench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
