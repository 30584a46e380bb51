"""The JVM decoder of the job (``ProtoDecode.java``) gives every record the same dead-letter reason as
``hybridrec.events.decode``: hand-made malformed records plus seeded random corruptions of valid ones."""

from __future__ import annotations

import functools
import random
import subprocess
import time

from hybridrec.config import ValidationConfig
from hybridrec.events import InvalidEvent, decode, make_event
from streaming import jvm
from tests.helpers import mutated


def python_reason(key: bytes | None, payload: bytes, cfg: ValidationConfig, now_ms: int) -> str:
    try:
        decode(payload, cfg, key=key, now_ms=now_ms)
    except InvalidEvent as exc:
        return exc.reason
    return "valid"


def java_reasons(
    records: list[tuple[bytes | None, bytes]], cfg: ValidationConfig, now_ms: int, classpath: str
) -> list[str]:
    lines = "".join(f"{'-' if k is None else k.hex()} {v.hex()} {now_ms}\n" for k, v in records)
    proc = subprocess.run(
        [
            "java",
            "-cp",
            classpath,
            jvm.PROTO_DECODE_DRIVER,
            str(cfg.max_payload_bytes),
            str(cfg.max_id_length),
            str(cfg.min_event_time_ms),
            str(cfg.max_future_skew_s * 1000),
        ],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return proc.stdout.split()


def corpus(now_ms: int) -> list[tuple[bytes | None, bytes]]:
    good = make_event(
        event_id="e1",
        user_id="u1",
        item_id="i1",
        event_type="RATING",
        value=4.0,
        event_time_ms=now_ms - 1000,
        surface="home",
        position=3,
        device="TV",
        country="NL",
    )

    variant = functools.partial(mutated, good)

    raw = good.SerializeToString()
    key = b"u1"
    records: list[tuple[bytes | None, bytes]] = [
        (key, raw),
        (None, raw),
        (b"u2", raw),
        (key, b""),
        (key, raw[:-5]),
        (key, b"\xff" * 20),
        (key, b"x" * 20_000),
        (key, variant(event_id="")),
        (key, variant(user_id="")),
        (b"", variant(user_id="")),
        (key, variant(item_id="")),
        (key, variant(event_id="é" * 128)),
        (key, variant(event_id="é" * 129)),
        (key, variant(event_type=0)),
        (key, variant(event_type=8)),
        (key, variant(event_type=-3)),
        (key, variant(event_type=7, value=0.0)),
        (key, variant(device=9)),
        (key, variant(device=-1)),
        (key, variant(event_time_ms=0)),
        (key, variant(event_time_ms=-5)),
        (key, variant(event_time_ms=now_ms + 10 * 86_400_000)),
        (key, variant(value=float("nan"))),
        (key, variant(value=float("inf"))),
        (key, variant(value=9.0)),
        (key, variant(value=0.4)),
        (key, variant(event_type=6, value=0.5)),
        (key, variant(event_type=6, value=-1.0)),
        # unknown fields of every wire type, a known field with the wrong wire type, a group, bad UTF-8
        (key, raw + b"\xa0\x06\x01"),
        (key, raw + b"\xa9\x06" + b"\x00" * 8),
        (key, raw + b"\xad\x06\x00\x00\x00\x00"),
        (key, raw + b"\x08\x05"),
        (key, raw + b"\xa3\x06\x08\x01\xa4\x06"),
        (key, raw + b"\xa3\x06\x08\x01"),
        (key, raw + b"\x0a\x02\xc3\x28"),
        (key, raw + b"\x00\x01"),
        (key, raw + b"\x0f"),
    ]
    rng = random.Random(4)
    for n in range(3000):
        b = bytearray(raw)
        op = n % 4
        if op == 0:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b = b[: rng.randrange(len(b))]
        elif op == 2:
            b.insert(rng.randrange(len(b)), rng.randrange(256))
        else:
            for _ in range(3):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        records.append((key, bytes(b)))
    return records


def test_java_decoder_gives_python_reasons(java_classpath: str) -> None:
    cfg = ValidationConfig()
    now = int(time.time() * 1000)
    records = corpus(now)
    expected = [python_reason(k, v, cfg, now) for k, v in records]
    got = java_reasons(records, cfg, now, java_classpath)
    diff = [(k, v.hex(), e, g) for (k, v), e, g in zip(records, expected, got, strict=True) if e != g]
    assert not diff, diff[:10]
    assert len(set(expected)) >= 15, sorted(set(expected))  # the corpus reaches nearly every rule
