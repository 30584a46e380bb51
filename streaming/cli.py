"""``hybridrec stream run``: registered through the ``hybridrec.commands`` entry-point group."""

from __future__ import annotations

import argparse

from streaming.main import add_run_arguments


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("stream", help="the speed layer (settings: HYBRIDREC_STREAMING__*)")
    sub = p.add_subparsers(dest="stream_command", required=True)
    run = sub.add_parser("run", help="run the PyFlink job on the local MiniCluster (or the configured cluster)")
    add_run_arguments(run)
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace, *_: object) -> int:
    from streaming.main import cmd_run

    return cmd_run(args)
