"""Sequential-table training and generation speed: 1,000,000 event rows over 10,000 histories.

    python bench/sequential_bench.py                          # 1,000,000 events, 10,000 owners
    python bench/sequential_bench.py --events 200000 --owners 2000 --window-size 5 --n-predict 2

owners(owner_id, tier) <- events(event_id, owner_id, at, type, amount, channel), a sequential table ordered by
`at`: the type follows a Markov chain, the amount depends on the previous type, the gap on the type, the
length (mean events / owners, up to 1.5 times it) on the owner's tier. Sources and outputs are Parquet files in
a temporary directory. Prints the training time (reading, encoding, both networks, the length model, saving;
no evaluation) and the generation time (sampling every history, rebuilding the timestamps, writing), with
rows/s, and the transition TVD of the generated histories as a sanity check. Targets on the reference machine:
training < 60 s, generation < 30 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from airflow_provider_hazy import api

TRANSITIONS = np.array([[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.5, 0.1], [0.2, 0.2, 0.1, 0.5], [0.6, 0.1, 0.2, 0.1]])
TYPES = np.array(["view", "cart", "buy", "return"])
SCHEMA = {
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
                {"name": "channel", "type": "category"},
            ],
        },
    ]
}


def histories(n_events: int, n_owners: int, seed: int = 0):
    """(owners, events) drawn from the known process, vectorised over histories (a loop over positions)."""
    rng = np.random.default_rng(seed)
    mean = n_events / n_owners
    tier = rng.integers(3, size=n_owners)
    low = np.maximum(1, (np.array([0.5, 0.8, 1.2]) * mean).astype(int))[tier]
    high = (np.array([0.8, 1.2, 1.5]) * mean).astype(int)[tier]
    lengths = rng.integers(low, high + 1)
    lengths = np.maximum(1, np.round(lengths * n_events / lengths.sum()).astype(int))
    n = int(lengths.sum())
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    types = np.zeros(n, dtype=np.int64)
    types[starts] = rng.integers(4, size=n_owners)
    cumulative = TRANSITIONS.cumsum(axis=1)
    for position in range(1, int(lengths.max())):
        rows = starts[lengths > position] + position
        types[rows] = (rng.random(len(rows))[:, None] > cumulative[types[rows - 1]]).sum(axis=1)
    position = np.arange(n) - np.repeat(starts, lengths)
    previous = np.where(position > 0, types[np.maximum(np.arange(n) - 1, 0)], 0)
    amount = np.round(np.array([10.0, 50.0, 100.0, 20.0])[previous] * rng.lognormal(0, 0.2, n), 2)
    gaps = np.where(position > 0, np.round(rng.exponential(np.array([2.0, 12.0, 72.0, 240.0])[types] * 3600)), 0)
    offsets = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts], lengths)
    first = np.datetime64("2024-01-01") + rng.integers(0, 90 * 86400, n_owners).astype("timedelta64[s]")
    owners = pd.DataFrame({"owner_id": np.arange(1, n_owners + 1), "tier": np.array(["a", "b", "c"])[tier]})
    events = pd.DataFrame(
        {
            "event_id": np.arange(1, n + 1),
            "owner_id": np.repeat(owners["owner_id"].to_numpy(), lengths),
            "at": np.repeat(first, lengths) + offsets.astype("timedelta64[s]"),
            "type": TYPES[types],
            "amount": amount,
            "channel": np.array(["web", "app", "store"])[rng.integers(3, size=n)],
        }
    )
    return owners, events


def transition_tvd(events: pd.DataFrame) -> float:
    ordered = events.sort_values(["owner_id", "at"], kind="mergesort")
    codes = pd.Categorical(ordered["type"], categories=TYPES).codes
    same = ordered["owner_id"].to_numpy()[1:] == ordered["owner_id"].to_numpy()[:-1]
    counts = np.zeros((4, 4))
    np.add.at(counts, (codes[:-1][same], codes[1:][same]), 1)
    matrix = counts / counts.sum(axis=1, keepdims=True)
    return float(0.5 * np.abs(matrix - TRANSITIONS).sum(axis=1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--epsilon", type=float, default=1000.0)
    parser.add_argument("--window-size", type=int, default=20)
    parser.add_argument("--n-predict", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        owners, events = histories(args.events, args.owners)
        paths = {"owners": directory / "owners.parquet", "events": directory / "events.parquet"}
        owners.to_parquet(paths["owners"])
        events.to_parquet(paths["events"])
        config = {
            "data_schema": SCHEMA,
            "data_input": [{"name": name, "location": str(path)} for name, path in paths.items()],
            "model_output": str(directory / "events.hmf"),
            "random_state": 1,
            "evaluation": None,
            "model_parameters": {
                "generator": {"epsilon": args.epsilon},
                "sequential": {"window_size": args.window_size, "n_predict": args.n_predict},
            },
        }
        started = time.perf_counter()
        model = api.train(config)
        training = time.perf_counter() - started
        outputs = {name: directory / "out" / f"{name}.parquet" for name in ("owners", "events")}
        started = time.perf_counter()
        state = api.generate(
            {
                "model": str(model),
                "data_output": [{"name": name, "location": str(path)} for name, path in outputs.items()],
                "random_state": 2,
            }
        )
        generation = time.perf_counter() - started
        rows = len(owners) + len(events)
        generated = {name: entry["rows"] for name, entry in state["tables"].items()}
        synthetic = pd.read_parquet(outputs["events"])
        print(
            f"source: {len(events):,} events over {len(owners):,} histories (window_size {args.window_size}, "
            f"n_predict {args.n_predict}, epsilon {args.epsilon:g})"
        )
        print(f"training:   {training:7.2f} s  ({rows / training:,.0f} rows/s)   target < 60 s")
        print(
            f"generation: {generation:7.2f} s  ({sum(generated.values()) / generation:,.0f} rows/s)   "
            f"target < 30 s   rows {generated}"
        )
        print(f"transition mean TVD of the generated histories: {transition_tvd(synthetic):.4f}")


if __name__ == "__main__":
    main()
