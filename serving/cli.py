"""``hybridrec serve``: registered through the ``hybridrec.commands`` entry-point group."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("serve", help="run the gRPC ranker (settings: HYBRIDREC_SERVING__*, HYBRIDREC_CONFIG)")
    p.add_argument("--port", type=int, help="override serving.port")
    p.add_argument("--workers", type=int, help="override serving.workers (server processes on one port)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, *_: object) -> int:
    from serving.main import run

    return run(args.port, args.log_level, args.workers)
