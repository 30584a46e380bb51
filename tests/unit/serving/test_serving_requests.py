from __future__ import annotations

import grpc
import pytest

from hybridrec_pb import ranker_pb2 as pb
from serving import requests
from serving.config import ServingConfig
from serving.domain import RowKind
from serving.errors import InvalidRequest

CFG = ServingConfig()
NOW = 1_700_000_000_000


def test_defaults_and_personalized_presence() -> None:
    q = requests.homepage(pb.HomepageRequest(user_id="u1", context=pb.RequestContext(device=2)), None, CFG, NOW)
    assert (q.n_rows, q.items_per_row, q.personalized) == (CFG.default_rows, CFG.default_items_per_row, True)
    assert q.deadline_s == pytest.approx(0.25) and q.request_id and q.context.device == "WEB"
    assert q.context.time_ms == NOW
    anon = requests.homepage(pb.HomepageRequest(personalized=False), 0.1, CFG, NOW)
    assert anon.personalized is False and anon.user_id == ""
    row = requests.row(pb.RowRequest(user_id="u", row_type=pb.TRENDING, n_items=7), 0.2, CFG, NOW)
    assert (row.only, row.n_rows, row.items_per_row) == (RowKind.TRENDING, 1, 7)


@pytest.mark.parametrize(
    ("request_", "remaining", "message"),
    [
        (pb.HomepageRequest(user_id=""), None, "user_id is empty"),
        (pb.HomepageRequest(user_id="u" * 129), None, "129 characters long"),
        (pb.HomepageRequest(user_id=" u"), None, "whitespace"),
        (pb.HomepageRequest(user_id="u", n_rows=11), None, "n_rows must be between 1 and 10"),
        (pb.HomepageRequest(user_id="u", n_rows=-1), None, "n_rows must be between"),
        (pb.HomepageRequest(user_id="u", items_per_row=51), None, "items_per_row must be between 1 and 50"),
        (pb.HomepageRequest(user_id="u", context=pb.RequestContext(device=99)), None, "device 99 is not a known"),
        (pb.HomepageRequest(user_id="u", context=pb.RequestContext(country="germany")), None, "ISO 3166"),
        (pb.HomepageRequest(user_id="u", context=pb.RequestContext(time_ms=1)), None, "from server time"),
        (pb.HomepageRequest(user_id="u"), 3600.0, "exceeds the maximum"),
    ],
)
def test_invalid_homepage_requests_say_what_is_wrong(
    request_: pb.HomepageRequest, remaining: float | None, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as info:
        requests.homepage(request_, remaining, CFG, NOW)
    assert info.value.status.name == "INVALID_ARGUMENT"


def test_invalid_row_and_similar_requests() -> None:
    with pytest.raises(InvalidRequest, match="row_type 0 is not one of"):
        requests.row(pb.RowRequest(user_id="u"), None, CFG, NOW)
    with pytest.raises(InvalidRequest, match="row_type 42"):
        requests.row(pb.RowRequest(user_id="u", row_type=42), None, CFG, NOW)
    with pytest.raises(InvalidRequest, match="cannot be served with personalized=false"):
        requests.row(pb.RowRequest(user_id="u", row_type=pb.FOR_YOU, personalized=False), None, CFG, NOW)
    with pytest.raises(InvalidRequest, match="item_id is empty"):
        requests.similar(pb.SimilarItemsRequest(), None, CFG)
    with pytest.raises(InvalidRequest, match="n_items must be between"):
        requests.similar(pb.SimilarItemsRequest(item_id="i", n_items=1000), None, CFG)


def test_a_deadline_that_passed_in_the_queue_is_deadline_exceeded_not_invalid() -> None:
    from serving.errors import DeadlinePassed

    for left_s in (0.0, -0.01, 0.0005):  # passed, long passed, less than min_deadline_ms (1 ms) left
        with pytest.raises(DeadlinePassed, match="below the minimum of 1 ms") as info:
            requests.homepage(pb.HomepageRequest(user_id="u"), left_s, ServingConfig())
        assert info.value.status == grpc.StatusCode.DEADLINE_EXCEEDED
