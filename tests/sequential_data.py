"""Event histories drawn from a known process, as frames: owners with a tier that decides how many events
they have; events whose type follows a Markov chain, whose amount depends on the previous type and whose gap
to the previous event depends on the type."""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
import pandas as pd

TYPES = np.array(["view", "cart", "buy", "return"])
TRANSITIONS = np.array([[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.5, 0.1], [0.2, 0.2, 0.1, 0.5], [0.6, 0.1, 0.2, 0.1]])
TIERS = np.array(["bronze", "silver", "gold"])
LENGTH_RANGES = np.array([[2, 6], [5, 12], [10, 20]])
AMOUNT_AFTER = np.array([10.0, 50.0, 100.0, 20.0])
"""Mean amount of an event after an event of each type (the first event: 30)."""
GAP_HOURS = np.array([2.0, 12.0, 72.0, 240.0])
"""Mean gap (hours, exponential) before an event of each type."""


def event_histories(n_owners: int, seed: int = 0) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """(owners, events): owners(owner_id, tier); events(event_id, owner_id, at, type, amount), in a shuffled
    row order (the model must sort by `at`)."""
    rng = np.random.default_rng(seed)
    tier = rng.integers(3, size=n_owners)
    lengths = rng.integers(LENGTH_RANGES[tier, 0], LENGTH_RANGES[tier, 1] + 1)
    n = int(lengths.sum())
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    types = np.zeros(n, dtype=np.int64)
    types[starts] = rng.integers(4, size=n_owners)
    for position in range(1, int(lengths.max())):
        rows = starts[lengths > position] + position
        cumulative = TRANSITIONS.cumsum(axis=1)[types[rows - 1]]
        types[rows] = (rng.random(len(rows))[:, None] > cumulative).sum(axis=1)
    position = np.arange(n) - np.repeat(starts, lengths)
    previous = np.where(position > 0, types[np.maximum(np.arange(n) - 1, 0)], -1)
    mean_amount = np.where(previous >= 0, AMOUNT_AFTER[np.maximum(previous, 0)], 30.0)
    amount = np.round(mean_amount * rng.lognormal(0.0, 0.2, size=n), 2)
    gap_seconds = np.round(rng.exponential(GAP_HOURS[types] * 3600.0))
    gap_seconds[position == 0] = 0
    first_at = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 30 * 86400, size=n_owners).astype(
        "timedelta64[s]"
    )
    offsets = np.cumsum(gap_seconds) - np.repeat(np.cumsum(gap_seconds)[starts], lengths)
    at = np.repeat(first_at, lengths) + offsets.astype("timedelta64[s]")
    owners = pd.DataFrame({"owner_id": np.arange(1, n_owners + 1), "tier": TIERS[tier]})
    events = pd.DataFrame(
        {
            "event_id": np.arange(1, n + 1),
            "owner_id": np.repeat(owners["owner_id"].to_numpy(), lengths),
            "at": at,
            "type": TYPES[types],
            "amount": amount,
        }
    )
    shuffled = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return owners, shuffled


def event_schema() -> Dict[str, Any]:
    """The data_schema: events is a sequential child of owners, ordered by `at`."""
    return {
        "tables": [
            {"name": "owners", "columns": [{"name": "owner_id", "type": "id"}, {"name": "tier", "type": "category"}]},
            {
                "name": "events",
                "type": "sequential",
                "sequence_id": "owner_id",
                "sort_by": ["at"],
                "columns": [
                    {"name": "event_id", "type": "id"},
                    {"name": "owner_id", "type": "foreign_key", "ref_table": "owners", "ref_column": "owner_id"},
                    {"name": "at", "type": "datetime"},
                    {"name": "type", "type": "category"},
                    {"name": "amount", "type": "float"},
                ],
            },
        ]
    }


def type_transitions(events: pd.DataFrame) -> np.ndarray:
    """The 4 x 4 transition matrix of `type` between consecutive events (by `at`) of each owner."""
    ordered = events.sort_values(["owner_id", "at"], kind="mergesort")
    codes = pd.Categorical(ordered["type"], categories=TYPES).codes
    same = ordered["owner_id"].to_numpy()[1:] == ordered["owner_id"].to_numpy()[:-1]
    counts = np.zeros((4, 4))
    np.add.at(counts, (codes[:-1][same], codes[1:][same]), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def length_distribution(events: pd.DataFrame, n_owners: int, max_length: int = 40) -> np.ndarray:
    counts = events.groupby("owner_id").size().to_numpy()
    lengths = np.r_[counts, np.zeros(max(n_owners - len(counts), 0), dtype=np.int64)]
    return np.bincount(np.minimum(lengths, max_length), minlength=max_length + 1) / max(len(lengths), 1)
