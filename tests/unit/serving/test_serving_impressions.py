"""What an impression log records: every slot in page order, and no user for a non-profiling page."""

from __future__ import annotations

from serving.domain import Context, Page, Row, RowKind, Slot
from serving.sink.kafka import to_log


def _page(personalized: bool) -> Page:
    rows = [
        Row(
            "popular",
            RowKind.POPULAR,
            "Popular",
            "popular",
            [Slot("i1", 0.9, "popular"), Slot("i2", 0.8, "popular", explored=True)],
        ),
        Row("trending", RowKind.TRENDING, "Trending now", "trending", [Slot("i3", 0.7, "trending")]),
    ]
    return Page("req-1", rows, "v1", "control", [], personalized, user_id="u1")


def test_a_personalized_page_logs_its_user_and_every_slot_in_order() -> None:
    log = to_log(_page(personalized=True), Context("TV", "DE", 0))
    assert log.user_id == "u1" and log.request_id == "req-1" and log.model_version == "v1"
    assert [(s.item_id, s.row_position, s.position, s.explored) for s in log.slots] == [
        ("i1", 0, 0, False),
        ("i2", 0, 1, True),
        ("i3", 1, 0, False),
    ]


def test_a_non_profiling_page_logs_no_user() -> None:
    log = to_log(_page(personalized=False), Context("TV", "DE", 0))
    assert log.user_id == "" and len(log.slots) == 3 and log.variant == "control"
