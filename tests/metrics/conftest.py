"""Schemas of the metric tests' data (the data itself: `metric_data`)."""

from __future__ import annotations

import pytest

from airflow_provider_hazy.config.schema import DataSchema


@pytest.fixture
def people_schema() -> DataSchema:
    return DataSchema.model_validate(
        {
            "tables": [
                {
                    "name": "people",
                    "columns": [
                        {"name": "id", "type": "id"},
                        {"name": "age", "type": "integer"},
                        {"name": "income", "type": "float"},
                        {"name": "city", "type": "category"},
                        {"name": "member", "type": "bool"},
                        {"name": "joined", "type": "datetime"},
                        {"name": "name", "type": "person"},
                    ],
                }
            ]
        }
    )


@pytest.fixture
def shop_schema() -> DataSchema:
    return DataSchema.model_validate(
        {
            "tables": [
                {
                    "name": "customers",
                    "columns": [
                        {"name": "customer_id", "type": "id"},
                        {"name": "segment", "type": "category"},
                        {"name": "age", "type": "integer"},
                    ],
                },
                {
                    "name": "orders",
                    "columns": [
                        {"name": "order_id", "type": "id"},
                        {
                            "name": "customer_id",
                            "type": "foreign_key",
                            "ref_table": "customers",
                            "ref_column": "customer_id",
                        },
                        {"name": "amount", "type": "float"},
                        {"name": "channel", "type": "category"},
                    ],
                },
            ]
        }
    )
