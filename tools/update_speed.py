"""Time whole training updates of a card on MJX or MuJoCo C in this checkout; prints one JSON line.

Run from a checkout's root with that checkout on the path, so one script measures the code of any commit
back to 9bd122d (whose trainer still lived in `ampbench.backends.mjx.trainer`); a commit's own module
paths are tried newest first:

    PYTHONPATH=src:. python /path/to/tools/update_speed.py --card benchmarks/phase2.yaml --envs 256

`tests/bench/test_speed_against_commit.py` runs it alternately in this checkout and in a worktree of an older
commit, so both are measured under the same load. Every checkout's own card, clips from its own
`tests/clipfactory.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _build(card_path: str, envs: int, overrides: list[str], backend: str):
    from ampbench.cards import load_card
    from ampbench.motion.loader import MotionLibrary
    from tests.clipfactory import synthetic_clip

    card = load_card(card_path, overrides=(f"training.envs={envs}", *overrides))
    skills = [band.skill for band in card.commands.bands]
    clips = [synthetic_clip(num_frames=61, fps=30.0, loop=True)] * len(skills)
    try:
        library = MotionLibrary(clips, skills=skills)
    except TypeError:  # 9bd122d: skills came from the card's clip list
        library = MotionLibrary(clips)
    if backend == "mujoco":
        try:
            from ampbench.sim.mujoco.env import MujocoHumanoidEnv
        except ImportError:  # before the sim/ package: backends/
            from ampbench.backends.mujoco.env import MujocoHumanoidEnv

        return card, MujocoHumanoidEnv(card, library, envs=envs)
    try:
        from ampbench.sim.mjx.env import MjxHumanoidEnv
    except ImportError:
        from ampbench.backends.mjx.env import HumanoidAmpEnv as MjxHumanoidEnv

    return card, MjxHumanoidEnv(card, library)


def _update_fn(card, env):
    """A no-argument function running the next update, for the trainer of this checkout."""
    try:
        from ampbench.learning import loop, update

        return _update_fn_of(card, env, start=update, run=loop)
    except ImportError:  # before learning/ was split by job: one trainer module
        pass
    try:
        from ampbench.learning import trainer
    except ImportError:  # 9bd122d: the trainer in the MJX backend, the env batch passed along
        from ampbench.backends.mjx import trainer

        state = trainer.init_train_state(env, card, seed=0)
        carry = trainer.reset_envs(env, card.training.envs, trainer.update_keys(0, 0)[0])
        box = {"state": state, "carry": carry, "update": 0}

        def old_update():
            box["state"], box["carry"], _ = trainer._run_update(
                env, card, 0, box["update"], box["state"], box["carry"]
            )
            box["update"] += 1

        return old_update
    return _update_fn_of(card, env, start=trainer, run=trainer)


def _update_fn_of(card, env, *, start, run):
    """The update of a trainer with host reference draws: `start` holds init_train_state, `run` holds
    rollouts_for, draw_references and run_update."""
    if hasattr(run, "train_seeds"):  # since seeds train together: lists of envs and seeds
        return _update_fn_of_seeds(card, env, start=start, run=run)
    state = start.init_train_state(env, card, seed=0)
    rollouts = run.rollouts_for(env, card, seed=0)
    box = {"state": state, "reference": run.draw_references(env, card, 0, 0), "update": 0}
    # trainers with the imitation estimate take its reference as one more argument
    imitation = (
        (run.imitation_reference_for(env, card, 0),) if hasattr(run, "imitation_reference_for") else ()
    )

    def next_update():
        box["state"], _, box["reference"] = run.run_update(
            env, card, 0, box["update"], box["state"], rollouts, box["reference"], *imitation
        )
        box["update"] += 1

    return next_update


def _update_fn_of_seeds(card, env, *, start, run):
    """The update of the trainer that takes lists of envs and seeds (one seed here)."""
    box = {
        "state": start.init_train_state(env, card, seed=0),
        "references": [run.draw_references(env, card, 0, 0)],
        "update": 0,
    }
    rollouts = run.rollouts_for([env], card, [0])
    imitations = [run.imitation_reference_for(env, card, 0)]

    def next_update():
        box["state"], _, box["references"] = run.run_update(
            [env], card, [0], box["update"], box["state"], rollouts, box["references"], imitations
        )
        box["update"] += 1

    return next_update


def _profile(update, updates: int, top: int) -> None:
    """cProfile of `updates` updates, the `top` functions by own time, to stderr."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(updates):
        update()
    profile.disable()
    pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", default="benchmarks/phase2.yaml")
    parser.add_argument("--envs", type=int, default=256)
    parser.add_argument("--updates", type=int, default=3, help="timed updates after the compiling one")
    parser.add_argument("--set", action="append", default=[], help="card override, e.g. ppo.epochs=2")
    parser.add_argument(
        "--backend",
        default="mjx",
        choices=["mjx", "mujoco"],
        help="mujoco: MuJoCo C with the host-loop trainer (checkouts that have that backend)",
    )
    parser.add_argument("--compile-cache", help="JAX's persistent cache folder (checkouts that have one)")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the compiling update, run one update per line read from stdin and print its seconds, "
        "so a driver can alternate updates of several checkouts under the same load",
    )
    parser.add_argument(
        "--profile",
        type=int,
        metavar="TOP",
        help="after the timed updates, profile as many more with cProfile and print the TOP functions by "
        "own time to stderr (where an update's time goes: physics, learning step, reference draws)",
    )
    args = parser.parse_args()
    if args.compile_cache:
        try:
            from ampbench.core import compile_cache
        except ImportError:
            from ampbench import compile_cache

        compile_cache.enable(args.compile_cache)
    started = time.perf_counter()
    card, env = _build(args.card, args.envs, args.set, args.backend)
    built = time.perf_counter()
    update = _update_fn(card, env)
    update()
    compiled = time.perf_counter()
    if args.serve:
        per_update = card.training.envs * card.ppo.rollout_steps
        print(
            json.dumps({"first_update_s": compiled - built, "env_steps_per_update": per_update}), flush=True
        )
        for _ in sys.stdin:
            started = time.perf_counter()
            update()
            print(json.dumps({"seconds": time.perf_counter() - started}), flush=True)
        return
    for _ in range(args.updates):
        update()
    seconds = (time.perf_counter() - compiled) / args.updates
    if args.profile:
        _profile(update, args.updates, args.profile)
    per_update = card.training.envs * card.ppo.rollout_steps
    print(
        json.dumps(
            {
                "card": card.name,
                "envs": args.envs,
                "overrides": args.set,
                "env_steps_per_update": per_update,
                "seconds_per_update": seconds,
                "env_steps_per_s": per_update / seconds,
                "build_s": built - started,
                "first_update_s": compiled - built,
            }
        )
    )


if __name__ == "__main__":
    main()
