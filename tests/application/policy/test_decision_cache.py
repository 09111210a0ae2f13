"""The decision cache, directly with real verdicts and times."""

from __future__ import annotations

from somaagent.application.policy import DecisionCache
from somaagent.domain.policy import PolicyRequest, PolicyVerdict

KEY = PolicyRequest(
    tenant="t", persona="p", action="tool.request", resource="web_search"
).cache_key()


def test_only_allows_are_kept_until_ttl() -> None:
    cache = DecisionCache(ttl_s=2.0, max_entries=10)
    cache.observe(KEY, PolicyVerdict(allow=False, constitution_hash="h1"), now=100.0)
    assert cache.get(KEY, now=100.1) is None
    allow = PolicyVerdict(allow=True, constitution_hash="h1")
    cache.observe(KEY, allow, now=100.0)
    assert cache.get(KEY, now=101.9) == allow
    assert cache.get(KEY, now=102.0) is None


def test_new_constitution_hash_flushes_everything() -> None:
    cache = DecisionCache(ttl_s=60.0, max_entries=10)
    other = PolicyRequest(tenant="t", persona="p", action="tool.request", resource="x").cache_key()
    cache.observe(KEY, PolicyVerdict(allow=True, constitution_hash="h1"), now=0.0)
    cache.observe(other, PolicyVerdict(allow=False, constitution_hash="h2"), now=1.0)
    assert cache.get(KEY, now=1.0) is None
    assert len(cache) == 0


def test_canary_verdicts_are_not_cached_and_size_is_capped() -> None:
    cache = DecisionCache(ttl_s=60.0, max_entries=2)
    cache.observe(KEY, PolicyVerdict(allow=True, canary=True, constitution_hash="h"), now=0.0)
    assert cache.get(KEY, now=0.0) is None
    for n in range(3):
        key = f"k{n}".encode()
        cache.observe(key, PolicyVerdict(allow=True, constitution_hash="h"), now=0.0)
    assert len(cache) == 2
    assert cache.get(b"k0", now=0.0) is None


def test_equal_requests_have_equal_keys_regardless_of_order() -> None:
    a = PolicyRequest(
        tenant="t", persona="p", action="a", resource="r", payload={"x": 1, "y": [1, 2]}
    )
    b = PolicyRequest(
        tenant="t", persona="p", action="a", resource="r", payload={"y": [1, 2], "x": 1}
    )
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != a.model_copy(update={"payload": {"x": 2}}).cache_key()


def test_a_moved_relationship_epoch_flushes_and_an_unknown_one_disables() -> None:
    cache = DecisionCache(ttl_s=60.0, max_entries=10)
    assert cache.sync_epoch("1")
    allow = PolicyVerdict(allow=True, constitution_hash="h")
    cache.observe(KEY, allow, now=0.0)
    assert cache.sync_epoch("1")
    assert cache.get(KEY, now=1.0) == allow
    assert cache.sync_epoch("2")
    assert cache.get(KEY, now=1.0) is None
    cache.observe(KEY, allow, now=1.0)
    assert not cache.sync_epoch(None)  # Redis could not be read: nothing cached is used
    assert len(cache) == 0
