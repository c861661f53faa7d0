"""Identity resolution quality and speed, against a plain matcher measured in the same run.

    python -m bench.identity            # full: 100,000 records in the main (dedup) set
    python -m bench.identity --quick    # CI smoke run: 2,000 records per set

Each labelled set of :mod:`bench.linkage_data` (``link``: one-to-one between two agencies;
``dedup``: groups of 1 to 6 records in one caseload, the main set; ``hard``: 3 to 5
agencies, heavy corruption) goes through :class:`streams.identity.Matcher` one record at a
time in file order, exactly as ``backbone identity resolve`` sends it. Quality is clustered
pairwise precision, recall and F1: every pair of records that end with the same person key
is a predicted link. Speed is records per second of resolution alone (the rows are in memory
already, as the CLI holds them).

The baseline, side by side: a streaming matcher with exact blocking on normalised surname
and birth year and one Jaro-Winkler threshold on the whole record, linking each record to
the most similar earlier record of its block. The table also shows how many true pairs
blocking on names and dates alone would lose: the hard set is built so that it is about a
tenth.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler
from rich.console import Console
from rich.table import Table

from bench.linkage_data import SETS, LinkageSet, Row
from streams.identity import IdentityRecord, Matcher
from streams.identity.bulk import resolve_all
from streams.identity.names import family_name, given_name
from streams.identity.normalise import fold, parse_date

SECRET = b"bench-only-person-key-secret-32b"
QUICK = {"link": 2_000, "dedup": 2_000, "hard": 2_000}
FULL = {"link": 50_000, "dedup": 100_000, "hard": 50_000}
BASELINE_THRESHOLD = 0.92


@dataclass(frozen=True, slots=True)
class Quality:
    """Clustered pairwise precision, recall and F1."""

    precision: float
    recall: float
    f1: float


def pairwise(predicted: Sequence[str], truth: Sequence[str]) -> Quality:
    """Quality of ``predicted`` keys against ``truth`` entities, record by record."""

    def pairs(counts: Iterable[int]) -> int:
        return sum(count * (count - 1) // 2 for count in counts)

    both = pairs(Counter(zip(predicted, truth, strict=True)).values())
    linked, true = pairs(Counter(predicted).values()), pairs(Counter(truth).values())
    precision = both / linked if linked else 1.0
    recall = both / true if true else 1.0
    total = precision + recall
    return Quality(precision, recall, 2 * precision * recall / total if total else 0.0)


def record(row: Row) -> IdentityRecord:
    """The matcher's record for an input row (empty cells are missing values)."""
    return IdentityRecord(
        row.agency,
        row.local_id,
        row.given_name or None,
        row.family_name or None,
        row.birth_date or None,
        row.address or None,
        row.postcode or None,
        row.nhs_number or None,
    )


class Baseline:
    """Exact blocking on normalised surname and birth year, one Jaro-Winkler threshold."""

    def __init__(self, threshold: float = BASELINE_THRESHOLD) -> None:
        self.threshold = threshold
        self._blocks: dict[str, tuple[list[str], list[str]]] = {}

    def resolve(self, identity: IdentityRecord) -> str:
        """The key of the most similar earlier record of the block, or a new key."""
        dates = parse_date(identity.birth_date) if identity.birth_date else ()
        surname = fold(identity.family_name or "").replace(" ", "")
        block = f"{surname}|{dates[0] // 10000 if dates else ''}"
        text = " ".join(
            fold(value)
            for value in (identity.given_name, identity.family_name, identity.address)
            if value
        ) + (f" {dates[0]}" if dates else "")
        texts, keys = self._blocks.setdefault(block, ([], []))
        best = process.extractOne(
            text, texts, scorer=JaroWinkler.normalized_similarity, score_cutoff=self.threshold
        )
        key = keys[best[2]] if best else f"{identity.agency}/{identity.local_id}"
        texts.append(text)
        keys.append(key)
        return key


def names_and_dates_loss(linkage: LinkageSet) -> float:
    """The share of true pairs that share neither name pair nor birth date with names.

    The rules are those of a names-and-dates blocking: given and family name, family name
    and birth date, given name and birth date, each exactly after folding.
    """
    groups: dict[str, list[set[str]]] = {}
    for row in linkage.rows:
        given = given_name(row.given_name) if row.given_name else None
        family = family_name(row.family_name) if row.family_name else None
        dates = parse_date(row.birth_date) if row.birth_date else ()
        first, core = given.first if given else None, family.core if family else None
        keys = {f"n{first}|{core}"} if first and core else set()
        keys |= {
            f"{kind}{name}|{date}"
            for kind, name in (("f", core), ("g", first))
            if name
            for date in dates
        }
        groups.setdefault(linkage.labels[row.record_id], []).append(keys)
    lost = total = 0
    for members in groups.values():
        for one, other in combinations(members, 2):
            total += 1
            lost += not one & other
    return lost / total if total else 0.0


@dataclass(frozen=True, slots=True)
class Measure:
    """One matcher on one set."""

    quality: Quality
    per_second: float


def measure(resolve: Callable[[list[IdentityRecord]], list[str]], linkage: LinkageSet) -> Measure:
    """Run ``resolve`` over the set's records in file order, timing it."""
    records = [record(row) for row in linkage.rows]
    started = time.perf_counter()
    keys = resolve(records)
    elapsed = time.perf_counter() - started
    truth = [linkage.labels[row.record_id] for row in linkage.rows]
    return Measure(pairwise(keys, truth), len(records) / elapsed)


def run_matcher(records: list[IdentityRecord]) -> list[str]:
    """The backbone's matcher, as ``backbone identity resolve`` runs it."""
    return [resolution.person_key for resolution in resolve_all(Matcher(SECRET), records)]


def run_baseline(records: list[IdentityRecord]) -> list[str]:
    """The plain blocking + Jaro-Winkler matcher."""
    baseline = Baseline()
    return [baseline.resolve(each) for each in records]


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the sets, run both matchers on each, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records per set")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    console = Console(width=140)
    table = Table(
        "set",
        "records",
        "names+dates loss",
        "matcher P / R / F1",
        "records/s",
        "baseline P / R / F1",
        "records/s",
        "F1 ratio",
        title="Identity resolution, one record at a time in file order",
    )
    for name, make in SETS.items():
        linkage = make(sizes[name], args.seed)
        ours, plain = measure(run_matcher, linkage), measure(run_baseline, linkage)
        table.add_row(
            name,
            f"{len(linkage.rows):,}",
            f"{names_and_dates_loss(linkage):.1%}",
            _quality(ours.quality),
            f"{ours.per_second:,.0f}",
            _quality(plain.quality),
            f"{plain.per_second:,.0f}",
            f"{ours.quality.f1 / plain.quality.f1:.2f}x",
        )
    console.print(table)


def _quality(quality: Quality) -> str:
    return f"{quality.precision:.4f} / {quality.recall:.4f} / {quality.f1:.4f}"


if __name__ == "__main__":
    main()
