"""A quality floor on generated sets: clustered pairwise F1 of the matcher (not a timing)."""

from __future__ import annotations

import pytest

from bench.identity import pairwise, run_matcher
from bench.identity import record as as_record
from bench.linkage_data import SETS


@pytest.mark.parametrize(("name", "floor"), [("link", 0.97), ("dedup", 0.965), ("hard", 0.93)])
def test_pairwise_f1_on_2000_generated_records(name: str, floor: float) -> None:
    linkage = SETS[name](2000, 11)
    keys = run_matcher([as_record(row) for row in linkage.rows])
    quality = pairwise(keys, [linkage.labels[row.record_id] for row in linkage.rows])
    assert quality.f1 >= floor, quality


def test_pairwise_counts_every_pair_in_a_cluster() -> None:
    quality = pairwise(["a", "a", "a", "b"], ["x", "x", "y", "y"])
    assert (quality.precision, quality.recall) == (1 / 3, 1 / 2)


def test_the_generator_is_reproducible() -> None:
    assert SETS["hard"](300, 5) == SETS["hard"](300, 5)
    assert SETS["hard"](300, 5) != SETS["hard"](300, 6)
