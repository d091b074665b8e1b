"""`hazy schema infer` proposes sequential tables; the user confirms them.

A tabular table is proposed as a sequential table (docs/sequential.md) when it has a foreign key (one column,
not in its primary key, to another modelled table) whose owners hold several rows each - at least
`MIN_ROWS_PER_OWNER` on average, and at least `MIN_SHARE_SEVERAL` of the owners with rows hold two or more -
and a date or datetime column to order them by. With several such keys, the owner is the parent with the most
rows (as for the driving parent of multi-table synthesis); the sort-by column is the date/datetime column with
the fewest nulls (the first on ties).

A proposal changes nothing by itself: the inferred table stays `type: tabular`, the YAML carries the proposal
as comments under it (`with_proposals`), and a note says so; the user confirms it by editing the three lines
in. Degrees are read from the rows inference sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import pandas as pd

from .config.schema import DataSchema, DateColumn, DatetimeColumn, ReferenceTable, TabularTable

MIN_ROWS_PER_OWNER = 2.0
MIN_SHARE_SEVERAL = 0.5


@dataclass(frozen=True)
class SequentialProposal:
    """A table proposed as sequential: its sequence id (foreign key to `owner`) and its sort-by column."""

    table: str
    sequence_id: str
    owner: str
    sort_by: str
    n_rows: int
    n_owners: int

    def note(self) -> str:
        per_owner = self.n_rows / max(self.n_owners, 1)
        return (
            f"table '{self.table}': proposed as a sequential table (histories of '{self.owner}' ordered by "
            f"'{self.sort_by}': {self.n_rows} sampled rows over {self.n_owners} owners, {per_owner:.1f} each); "
            f"to confirm, set type: sequential, sequence_id: {self.sequence_id}, sort_by: [{self.sort_by}] "
            "(the YAML holds them as comments)"
        )


def propose(schema: DataSchema, frames: Dict[str, pd.DataFrame]) -> List[SequentialProposal]:
    """The tables of `schema` that look like histories, from their (sampled) rows in `frames`."""
    proposals = []
    references = {table.name for table in schema.tables if isinstance(table, ReferenceTable)}
    for table in schema.tables:
        frame = frames.get(table.name)
        if type(table) is not TabularTable or frame is None or not len(frame):
            continue
        dates = [c.name for c in table.columns if isinstance(c, (DateColumn, DatetimeColumn)) and c.name in frame]
        if not dates:
            continue
        candidates = []
        for fk in table.foreign_keys:
            if fk.ref_table in (table.name, *references) or fk.name in table.primary_key or fk.name not in frame:
                continue
            counts = frame[fk.name].dropna().astype(str).value_counts()
            if counts.empty or counts.mean() < MIN_ROWS_PER_OWNER or (counts >= 2).mean() < MIN_SHARE_SEVERAL:
                continue
            owner_rows = len(frames[fk.ref_table]) if fk.ref_table in frames else len(counts)
            candidates.append((owner_rows, fk.name, fk.ref_table, int(counts.sum()), len(counts)))
        if not candidates:
            continue
        _, sequence_id, owner, n_rows, n_owners = max(candidates, key=lambda c: c[0])
        sort_by = min(dates, key=lambda name: (int(frame[name].isna().sum()), dates.index(name)))
        proposals.append(SequentialProposal(table.name, sequence_id, owner, sort_by, n_rows, n_owners))
    return proposals


def proposals_from_database(
    engine: object, schema: DataSchema, schema_name: Optional[str] = None, sample_rows: int = 100_000
) -> List[SequentialProposal]:
    """`propose` on the first `sample_rows` rows of each table that could be one (a foreign key and a date)."""
    from .io.sql import read_sql_table

    wanted = [
        table
        for table in schema.tables
        if type(table) is TabularTable
        and table.foreign_keys
        and any(isinstance(c, (DateColumn, DatetimeColumn)) for c in table.columns)
    ]
    frames: Dict[str, pd.DataFrame] = {}
    for table in wanted:
        frames[table.name] = next(
            iter(read_sql_table(engine, table.name, schema_name, chunk_size=sample_rows, limit=sample_rows))
        )
    owners = {fk.ref_table for table in wanted for fk in table.foreign_keys} - set(frames)
    for name in owners:
        frames[name] = next(iter(read_sql_table(engine, name, schema_name, chunk_size=sample_rows, limit=sample_rows)))
    return propose(schema, frames)


def with_proposals(yaml_text: str, proposals: Sequence[SequentialProposal]) -> str:
    """The schema YAML with each proposal as comment lines under its table's `type: tabular` line."""
    lines = yaml_text.splitlines()
    by_table = {proposal.table: proposal for proposal in proposals}
    out: List[str] = []
    current: Optional[str] = None
    for line in lines:
        out.append(line)
        if line.startswith("- name: "):
            current = line[len("- name: ") :].strip().strip("'\"")
        elif current in by_table and line.strip() == "type: tabular":
            proposal = by_table.pop(current)
            indent = line[: len(line) - len(line.lstrip())]
            out += [
                f"{indent}# proposed: a sequential table, histories of '{proposal.owner}' ordered by "
                f"'{proposal.sort_by}' ({proposal.n_rows} sampled rows over {proposal.n_owners} owners).",
                f"{indent}# To confirm, replace 'type: tabular' above with these three lines:",
                f"{indent}# type: sequential",
                f"{indent}# sequence_id: {proposal.sequence_id}",
                f"{indent}# sort_by: [{proposal.sort_by}]",
            ]
    return "\n".join(out) + ("\n" if yaml_text.endswith("\n") else "")
