"""``backbone identity``: resolve agencies' records to pseudonymous person keys.

``backbone identity resolve INPUT.csv --out OUTPUT.csv`` onboards an agency's caseload in
bulk through the same matcher as the stream: records one at a time, in file order.

The person keys are HMAC-SHA256 of the record that started each person under a secret
(:mod:`streams.identity.keys`). Without ``--secret-file`` the secret is this installation's
own random key in ``.backbone/identity.key``, created on first use with mode 0600: the same
installation gives the same keys run after run, and nobody without the file can tell which
identifiers a key came from. Production names a secret kept apart from the data.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from backbone.keys import KEY_FILE, installation_secret
from streams.identity import IdentityError, IdentityRecord, Matcher
from streams.identity.bulk import resolve_all

app = typer.Typer(help="Identity resolution: which person each agency's record is about.")
console = Console()
errors = Console(stderr=True)

DEFAULT_KEY = Path(".backbone") / KEY_FILE
#: The identifying columns of the input, as an identity record names them.
FIELDS = IdentityRecord._fields
#: Rows between two progress-bar refreshes: redrawing per row would cost more than matching.
_PROGRESS_EVERY = 1000


def _records(rows: list[dict[str, str]]) -> Iterator[IdentityRecord]:
    """Rows as records; a row without a local id is a link of its own (its record id)."""
    for row in rows:
        values = {name: (row.get(name) or "").strip() or None for name in FIELDS}
        yield IdentityRecord(
            agency=values.pop("agency") or "",
            local_id=values.pop("local_id") or f"record:{row['record_id']}",
            **values,
        )


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as source:
        reader = csv.DictReader(source)
        if "record_id" not in (reader.fieldnames or ()):
            raise IdentityError(f"{path} has no record_id column")
        rows = list(reader)
    if any(not row.get("record_id") for row in rows):
        raise IdentityError(f"{path} has a row without a record_id")
    return rows


@app.command()
def resolve(
    input_csv: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            exists=True,
            dir_okay=False,
            help="CSV: record_id, agency, local_id, given_name, family_name, birth_date, "
            "address, postcode, nhs_number (any but record_id may be empty or absent).",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where to write record_id, person_key (CSV).")],
    secret_file: Annotated[
        Path | None,
        typer.Option(help=f"Person-key secret [default: {DEFAULT_KEY}, created on first use]."),
    ] = None,
) -> None:
    """Give every record a person key, one record at a time in file order."""
    try:
        secret = secret_file.read_bytes() if secret_file else installation_secret(DEFAULT_KEY)
        rows = _read(input_csv)
        matcher = Matcher(secret)
    except (IdentityError, OSError) as exc:
        errors.print(f"[red]identity resolve failed: {exc}[/]")
        raise typer.Exit(2) from exc
    outcomes: Counter[str] = Counter()
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        out.open("w", newline="", encoding="utf-8") as target,
        Progress(*columns, console=console, transient=True) as progress,
    ):
        writer = csv.writer(target)
        writer.writerow(("record_id", "person_key"))
        task = progress.add_task("resolving", total=len(rows))
        resolutions = resolve_all(matcher, _records(rows))
        for done, (row, resolution) in enumerate(zip(rows, resolutions, strict=True), 1):
            writer.writerow((row["record_id"], resolution.person_key))
            outcomes[resolution.outcome] += 1
            if done % _PROGRESS_EVERY == 0:
                progress.update(task, completed=done)
    console.print(
        f"{len(rows)} records, {len(matcher)} persons: {outcomes['linked']} linked, "
        f"{outcomes['new']} new, {outcomes['review']} for review, {outcomes['known']} known"
    )
