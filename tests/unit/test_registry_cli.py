"""``hybridrec model list|show|promote|rollback`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridrec.cli import main
from hybridrec.registry import ModelRegistry


def test_model_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "reg"
    reg = ModelRegistry(root)
    art = tmp_path / "m.bin"
    art.write_bytes(b"weights")
    v1 = reg.publish({"m.bin": art}, {"gate": {"passed": True}}).version
    v2 = reg.publish({"m.bin": art}, {"gate": {"passed": False}}).version
    assert main(["model", "promote", v1, "--root", str(root)]) == 0
    assert main(["model", "promote", v2, "--root", str(root)]) == 0
    capsys.readouterr()
    assert main(["model", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    assert f"* {v2}" in listing and f"  {v1}" in listing
    assert main(["model", "show", "--root", str(root)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == v2 and shown["checksums"] == "ok" and shown["current"]
    assert main(["model", "rollback", "--root", str(root)]) == 0
    assert reg.current_version() == v1
    (reg.get(v1).path / "m.bin").write_bytes(b"tampered")
    capsys.readouterr()
    assert main(["model", "show", v1, "--root", str(root)]) == 0
    assert "CORRUPT" in json.loads(capsys.readouterr().out)["checksums"]
    assert main(["model", "promote", "nope", "--root", str(root)]) == 2
