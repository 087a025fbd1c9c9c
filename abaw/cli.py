"""`python -m abaw <command>`: the toolbox CLI. Each command module registers its own sub-parser."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from abaw.errors import AbawError

COMMAND_MODULES = (
    "abaw.synth.cli",
    "abaw.affwild",
    "abaw.doctor",
    "abaw.tables",
    "abaw.pkl",
    "abaw.submission",
    "abaw.evaluate",
    "abaw.baseline",
    "abaw.blend",
    "abaw.timing",
    "abaw.pipeline",
)


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], dict[str, Any] | None],
) -> argparse.ArgumentParser:
    """Create the sub-parser of one command; every command takes `--json`."""
    parser = subparsers.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abaw", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


def run_command(func: Callable[[argparse.Namespace], dict[str, Any] | None], args: argparse.Namespace) -> int:
    """Run one command: user mistakes print one line and exit 1; results optionally end as JSON."""
    try:
        result = func(args)
    except AbawError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if getattr(args, "json", False) and result is not None:
        print(json.dumps(result, default=float))
    return 1 if result is not None and result.get("ok") is False else 0
