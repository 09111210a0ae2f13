"""The KRaft cluster id handed to `kafka-storage format` must parse as a value, not an option."""

from __future__ import annotations

import base64
import uuid

from somaagent.devstack.kafka import new_cluster_id


def test_cluster_ids_are_uuids_that_never_start_with_a_dash() -> None:
    # 1 in 64 plain ids start with "-"; in 4000 draws an unguarded generator yields one
    # with probability 1 - (63/64)^4000, indistinguishable from 1.
    ids = [new_cluster_id() for _ in range(4000)]
    assert not [one for one in ids if one.startswith("-")]
    assert len(set(ids)) == len(ids)
    for one in ids[:50]:
        raw = base64.urlsafe_b64decode(one + "==")
        assert len(one) == 22 and len(raw) == 16
        assert uuid.UUID(bytes=raw).version == 4
