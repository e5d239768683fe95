"""Primary keys: UUIDv7 text, unique, in the order they were made (indexes grow at their right edge)."""

from __future__ import annotations

import time
import uuid

from hub.models import new_id


def test_an_id_is_a_uuid7_in_the_seeds_text_shape():
    made = new_id()
    parsed = uuid.UUID(made)
    assert str(parsed) == made and len(made) == 36
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    # Its first 48 bits are the time it was made, in milliseconds.
    assert abs((parsed.int >> 80) - time.time_ns() // 1_000_000) < 5_000


def test_ids_are_unique_and_sort_in_the_order_of_their_milliseconds():
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    later = []
    for _ in range(3):
        time.sleep(0.002)
        later.append(new_id())
    assert sorted(later) == later and min(later) > max(ids)
    # Within one millisecond the order is random (74 random bits), never the same id twice.
    assert any(a > b for a, b in zip(ids, ids[1:]))
