from batch.config import BatchConfig, GateConfig
from batch.gates import decide


def _m(v: float) -> dict[str, float]:
    return {"ndcg@10": v}


def test_candidate_must_beat_popularity_and_stay_near_current() -> None:
    cfg = BatchConfig(
        gates={
            "*": GateConfig(metric="ndcg@10", tolerance=0.02),
            "homepage/top_picks": GateConfig(metric="ndcg@10", min_lift_over_popularity=0.5),
        }
    )
    ok = decide(cfg, {"row": _m(0.30)}, _m(0.20), {"row": _m(0.31)})
    assert ok.passed, ok.reasons
    worse_than_current = decide(cfg, {"row": _m(0.30)}, _m(0.20), {"row": _m(0.40)})
    assert not worse_than_current.passed
    assert any("worse than current" in r for r in worse_than_current.reasons)
    below_pop = decide(cfg, {"row": _m(0.19)}, _m(0.20), None)
    assert not below_pop.passed
    # the per-surface gate demands a 50 % lift over popularity
    assert not decide(cfg, {"homepage/top_picks": _m(0.25)}, _m(0.20), None).passed
    assert decide(cfg, {"homepage/top_picks": _m(0.31)}, _m(0.20), None).passed


def test_ann_recall_gate() -> None:
    cfg = BatchConfig()
    assert not decide(cfg, {"r": _m(0.3)}, _m(0.1), None, min_recall=0.9, ann_recall=0.5).passed
    assert decide(cfg, {"r": _m(0.3)}, _m(0.1), None, min_recall=0.9, ann_recall=0.95).passed


def test_gate_metric_is_validated() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        BatchConfig(gates={"*": GateConfig(metric="ndcg@7")})
