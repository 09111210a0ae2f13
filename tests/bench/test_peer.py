"""bench/peer.py's arithmetic: overheads against the direct path and their ratio."""

from __future__ import annotations

import pytest

from bench.peer import Paths, Sample, summarise


def paths(rounds: int = 5) -> Paths:
    p = Paths()
    for i in range(rounds):
        jitter = 0.010 * i  # the model's own time varies from round to round
        p.samples["direct"].append(Sample(0.040 + jitter, 0.400 + jitter))
        p.samples["litellm"].append(Sample(0.060 + jitter, 0.430 + jitter))
        p.samples["direct_alone"].append(Sample(0.035 + jitter, 0.350))
        p.samples["litellm_alone"].append(Sample(0.045 + jitter, 0.360))
        p.samples["platform"].append(Sample(0.090 + jitter, 0.500, model_ttft=0.050 + jitter))
    return p


def test_overheads_subtract_the_model_and_the_ratio_compares_them() -> None:
    out = summarise(paths())
    assert out["rounds"] == 5
    assert out["litellm_overhead_ttft_p50_ms"] == pytest.approx(20.0)
    assert out["litellm_overhead_total_p50_ms"] == pytest.approx(30.0)
    assert out["litellm_alone_overhead_ttft_p50_ms"] == pytest.approx(10.0)
    assert out["platform_overhead_ttft_p50_ms"] == pytest.approx(40.0)
    assert out["overhead_ratio_platform_to_litellm"] == pytest.approx(2.0)
    assert out["overhead_ratio_platform_to_litellm_alone"] == pytest.approx(4.0)


def test_no_ratio_when_litellm_adds_nothing() -> None:
    p = paths()
    p.samples["litellm"] = list(p.samples["direct"])
    p.samples["litellm_alone"] = list(p.samples["direct_alone"])
    out = summarise(p)
    assert out["overhead_ratio_platform_to_litellm"] is None
    assert out["overhead_ratio_platform_to_litellm_alone"] is None
