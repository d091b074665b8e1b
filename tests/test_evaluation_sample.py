"""The training-time evaluation on a bounded, seeded sample (`pipeline.evaluation_sample`): a table with no
foreign key trains streamed with the evaluation on, and the evaluation scores EVALUATION_ROWS of its rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_provider_hazy import api
from airflow_provider_hazy.config import TrainingConfig
from airflow_provider_hazy.pipeline import evaluation_sample, training

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _config(folder: Path) -> TrainingConfig:
    config = TrainingConfig.from_file(EXAMPLES / "training.yaml").model_dump(mode="json")
    config["model_output"] = str(folder / "customers.hmf")
    config["data_input"] = [{"name": "customers", "location": str(EXAMPLES / "customers.csv")}]
    return TrainingConfig.model_validate(config)


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000, 10_000])
def test_gather_sample_picks_the_indexed_rows_whatever_the_chunks(chunk_rows):
    frame = pd.DataFrame({"a": np.arange(2000), "b": np.arange(2000).astype(str)})
    indices = np.sort(np.random.default_rng(0).choice(2000, 300, replace=False))
    gathered = evaluation_sample.gather_sample(training.frame_chunks(frame, chunk_rows), indices)
    pd.testing.assert_frame_equal(gathered, frame.iloc[indices].reset_index(drop=True))


def test_sample_indices_are_seeded_and_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation_sample, "EVALUATION_ROWS", 100)
    config = _config(tmp_path)
    first = evaluation_sample.sample_indices(config, "customers", 5000)
    assert len(first) == 100 and np.array_equal(first, evaluation_sample.sample_indices(config, "customers", 5000))
    assert evaluation_sample.sample_indices(config, "customers", 100) is None


def test_training_streams_and_the_evaluation_scores_a_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation_sample, "EVALUATION_ROWS", 1000)
    skipped = []
    original = training.read_source_frames

    def spy(config, sources, skip=()):
        skipped.append(set(skip))
        return original(config, sources, skip=skip)

    monkeypatch.setattr(training, "read_source_frames", spy)
    model = api.fit(_config(tmp_path))
    assert skipped == [{"customers"}]  # not read whole: trained from its chunks
    evaluation = model.manifest["evaluation"]
    assert evaluation["sample_rows"] == {"customers": 1000}
    assert 0 < evaluation["histogram_similarity"]["score"] <= 1
