"""The GetHomepage response carries every field of every slot (``explored`` is passed to upb only when true)."""

from __future__ import annotations

from hybridrec_pb import ranker_pb2 as pb
from serving.domain import Page, Row, RowKind, Slot
from serving.servicer import homepage_response


def test_the_response_carries_every_slot_field_in_order() -> None:
    slots = [Slot("i1", 0.9, "popular", propensity=0.93), Slot("i2", -0.25, "exploring", True, 0.07)]
    page = Page("req-1", [Row("popular", RowKind.POPULAR, "Popular", "popular", slots)], "v1", "control", ["x"], True)
    resp = pb.HomepageResponse.FromString(homepage_response(page).SerializeToString())
    assert (resp.request_id, resp.model_version, resp.variant, list(resp.degraded)) == ("req-1", "v1", "control", ["x"])
    assert resp.personalized
    row = resp.rows[0]
    assert (row.row_id, row.type, row.title, row.reason) == ("popular", pb.POPULAR, "Popular", "popular")
    assert [(i.item_id, round(i.score, 6), i.reason, i.explored, round(i.propensity, 6)) for i in row.items] == [
        ("i1", 0.9, "popular", False, 0.93),
        ("i2", -0.25, "exploring", True, 0.07),
    ]
