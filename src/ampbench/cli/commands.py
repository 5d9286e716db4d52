"""What each `ampbench` command does: a thin call into the module that owns the job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ampbench.cards import CardError, load_card
from ampbench.core.stop import stop_signal
from ampbench.motion.clip import ClipError
from ampbench.pipeline.memory import check_fits, check_scoring_fits


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
