"""``hybridrec model list|show|promote|rollback``: inspect and steer the model registry by hand.

Lives in the shared package because both batch (writes) and serving (reads) meet in the registry.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hybridrec.config import Settings
from hybridrec.registry import ModelRegistry, RegistryError


def default_root(settings: Settings) -> Path:
    return settings.paths.registry_root


def _registry(args: argparse.Namespace, settings: Settings) -> ModelRegistry:
    return ModelRegistry(args.root or default_root(settings))


def _headline(manifest: dict[str, Any]) -> str:
    holdout = manifest.get("metrics", {}).get("holdout", {})
    parts = []
    for name, m in holdout.items():
        if name.startswith("candidate/") or name == "popularity":
            key = next((k for k in m if k.startswith("ndcg@")), None)
            if key:
                parts.append(f"{name} {key}={m[key]:.4f}")
    return ", ".join(parts)


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from hybridrec.cli import CliError

    reg = _registry(args, settings)
    try:
        if args.action == "list":
            current = reg.current_version()
            for v in reg.list():
                mark = "*" if v.version == current else " "
                gate = v.manifest.get("gate", {})
                status = "" if not gate else ("gates passed" if gate.get("passed") else "gates FAILED")
                print(f"{mark} {v.version}  {status:13s} {_headline(v.manifest)}")
        elif args.action == "show":
            version = args.version or reg.current_version()
            if version is None:
                raise CliError("nothing promoted yet; name a version")
            v = reg.get(version)
            ok = "ok"
            try:
                v.verify()
            except RegistryError as exc:
                ok = f"CORRUPT: {exc}"
            print(
                json.dumps(
                    {**v.manifest, "checksums": ok, "current": version == reg.current_version()},
                    indent=2,
                    sort_keys=True,
                )
            )
        elif args.action == "promote":
            if not args.version:
                raise CliError("promote needs a version")
            reg.promote(args.version, reason=args.reason or "manual promotion")
            print(f"promoted {args.version}")
        else:
            print(f"rolled back to {reg.rollback(reason=args.reason or 'manual rollback')}")
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model", help="list, show, promote or roll back registered models")
    p.add_argument("action", choices=["list", "show", "promote", "rollback"])
    p.add_argument("version", nargs="?", help="version id (show: default current; promote: required)")
    p.add_argument("--root", type=Path, help="registry root (default paths.registry_root)")
    p.add_argument("--reason", help="recorded in the pointer file")
    p.set_defaults(func=cmd_model)
