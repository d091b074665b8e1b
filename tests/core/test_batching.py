"""Batch plans and seeds: any batch can be made alone and the union equals a sequential run."""

import numpy as np
import pytest

from airflow_provider_hazy.core.batching import (
    batch_seed,
    plan_batches,
    rows_for_magnitude,
    run_entropy,
    table_batch_seed,
)


@pytest.mark.parametrize(
    ("n_rows", "magnitude", "expected"), [(1000, 1.0, 1000), (1000, 2.5, 2500), (3, 0.5, 2), (10, 0.01, 1), (0, 2, 0)]
)
def test_rows_for_magnitude(n_rows, magnitude, expected):
    assert rows_for_magnitude(n_rows, magnitude) == expected


def test_without_batch_magnitude_there_is_one_batch():
    assert [(b.index, b.start_row, b.n_rows) for b in plan_batches(5000, 2.0, None)] == [(0, 0, 10000)]


def test_batches_cover_every_row_once_and_the_last_is_smaller():
    batches = plan_batches(1000, 1.0, 0.3)
    assert [(b.start_row, b.n_rows) for b in batches] == [(0, 300), (300, 300), (600, 300), (900, 100)]


def test_batch_seed_is_the_child_of_the_run_seed_whatever_the_number_of_batches():
    children = np.random.SeedSequence(123).spawn(7)
    for index in (0, 3, 6):
        assert (batch_seed(123, index).generate_state(4) == children[index].generate_state(4)).all()


def test_table_stream_is_the_child_of_its_batch_seed():
    expected = batch_seed(9, 2).spawn(3)[1].generate_state(4)
    assert (table_batch_seed(9, 2, 1).generate_state(4) == expected).all()


def test_run_entropy_keeps_a_given_random_state_and_draws_one_otherwise():
    assert run_entropy(42) == 42
    assert run_entropy(None) != run_entropy(None)
