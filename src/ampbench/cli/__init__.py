"""`ampbench ...`: the one place that knows every part; each command is a thin call into a module."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ampbench.cards import CardError
from ampbench.cli.parser import build_parser
from ampbench.core import compile_cache
from ampbench.core.stop import stop_on_signals

COMPILING_COMMANDS = ("train", "collect", "score", "render")


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
