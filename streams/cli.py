"""The ``smsguard`` command line: one sub-command a module under ``streams/commands``.

Each command module exposes ``register(subparsers)`` and keeps heavy imports
(Faust, Redis, matplotlib) inside its run function, so ``smsguard replay``
starts fast and never loads Kafka code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order `smsguard --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "streams.commands.replay",
    "streams.commands.report",
    "streams.commands.enforcer",
    "streams.commands.check",
    "streams.commands.bench_admission",
    "streams.commands.notify",
    "streams.commands.simulate",
    "streams.commands.evaluate",
    "streams.commands.demo",
    "streams.commands.bench",
    "streams.commands.worker",
    "streams.commands.produce",
    "streams.commands.tail",
    "streams.commands.bench_stream",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsguard", description="Real-time SMS traffic anomaly detector."
    )
    parser.add_argument("--config", help="TOML configuration file (see smsguard.example.toml)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
