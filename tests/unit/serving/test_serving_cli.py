from __future__ import annotations

from hybridrec.cli import build_parser


def test_serve_is_registered_through_the_entry_point_group() -> None:
    args = build_parser().parse_args(["serve", "--port", "50077", "--workers", "2"])
    assert (args.port, args.workers) == (50077, 2)
    assert args.func.__module__ == "serving.cli"
