"""`hazy schema infer` proposes sequential tables (a foreign key with several rows per owner and a date to
order them by), as notes and YAML comments the user confirms; the inferred table stays tabular."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from sequential_data import event_histories

from airflow_provider_hazy.config.schema import DataSchema, SequentialTable
from airflow_provider_hazy.schema_infer import schema_to_yaml
from airflow_provider_hazy.sequence_proposals import propose, with_proposals


def schema(events_columns=None) -> DataSchema:
    columns = events_columns or [
        {"name": "event_id", "type": "id"},
        {"name": "owner_id", "type": "foreign_key", "ref_table": "owners", "ref_column": "owner_id"},
        {"name": "channel_id", "type": "foreign_key", "ref_table": "channels", "ref_column": "channel_id"},
        {"name": "at", "type": "datetime"},
        {"name": "type", "type": "category"},
    ]
    return DataSchema.model_validate(
        {
            "tables": [
                {
                    "name": "owners",
                    "columns": [{"name": "owner_id", "type": "id"}, {"name": "tier", "type": "category"}],
                },
                {"name": "channels", "columns": [{"name": "channel_id", "type": "id"}]},
                {"name": "events", "columns": columns},
            ]
        }
    )


@pytest.fixture(scope="module")
def frames():
    owners, events = event_histories(300)
    events["channel_id"] = np.random.default_rng(0).integers(1, 4, size=len(events))
    return {"owners": owners, "channels": pd.DataFrame({"channel_id": [1, 2, 3]}), "events": events}


def test_a_child_with_several_dated_rows_per_owner_is_proposed_with_the_largest_owner(frames):
    [proposal] = propose(schema(), frames)
    assert (proposal.table, proposal.sequence_id, proposal.owner, proposal.sort_by) == (
        "events",
        "owner_id",
        "owners",
        "at",
    )
    assert proposal.n_rows == len(frames["events"]) and proposal.n_owners == 300
    assert "to confirm, set type: sequential, sequence_id: owner_id, sort_by: [at]" in proposal.note()


def test_no_proposal_without_a_date_or_with_one_row_per_owner(frames):
    no_date = [c for c in schema().table("events").model_dump()["columns"] if c["name"] != "at"]
    assert propose(schema(no_date), frames) == []
    single = dict(frames, events=frames["events"].drop_duplicates("owner_id"))
    assert [p.sequence_id for p in propose(schema(), single)] == ["channel_id"]  # three channels, many rows each


def test_the_yaml_keeps_the_table_tabular_and_carries_the_confirmable_lines(frames):
    proposals = propose(schema(), frames)
    text = with_proposals(schema_to_yaml(schema()), proposals)
    assert DataSchema.model_validate(yaml.safe_load(text)).table("events").type == "tabular"
    assert "  # type: sequential\n  # sequence_id: owner_id\n  # sort_by: [at]\n" in text
    confirmed = text.replace("  type: tabular\n  # proposed", "  # proposed", 1)
    confirmed = confirmed.replace("  # type: sequential\n  # sequence_id: owner_id\n  # sort_by: [at]\n", "")
    confirmed = confirmed.replace(
        "- name: events\n", "- name: events\n  type: sequential\n  sequence_id: owner_id\n  sort_by: [at]\n"
    )
    table = DataSchema.model_validate(yaml.safe_load(confirmed)).table("events")
    assert isinstance(table, SequentialTable) and table.sort_by == ["at"]
