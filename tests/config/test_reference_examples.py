"""The two examples of the reference construct as written there."""

from datetime import datetime

from airflow_provider_hazy.config import (
    DataLocationInput,
    DataLocationOutput,
    DataSchema,
    ForeignKeyColumn,
    GenerationConfig,
    GenSampleParams,
    IdColumn,
    IntegerColumn,
    ModelParameters,
    TabularTable,
    TrainingConfig,
    ValidationConfig,
)


def get_data_schema() -> DataSchema:
    """The example's data schema: customers and their accounts."""
    return DataSchema(
        tables=[
            TabularTable(name="customers", columns=[IdColumn(name="customer_id"), IntegerColumn(name="age")]),
            TabularTable(
                name="accounts",
                columns=[
                    IdColumn(name="account_id"),
                    ForeignKeyColumn(name="customer_id", ref_table="customers", ref_column="customer_id"),
                ],
            ),
        ]
    )


def get_data_input() -> list[DataLocationInput]:
    """The example's data input: one CSV file per table."""
    return [
        DataLocationInput(name="customers", location="/data/customers.csv"),
        DataLocationInput(name="accounts", location="/data/accounts.csv"),
    ]


def test_the_training_example_constructs_as_written():
    train_config = TrainingConfig(
        data_schema=get_data_schema(),
        data_input=get_data_input(),
        created_at=datetime.now(),
        model_output="model.hmf",
    )
    assert train_config.model_output == "model.hmf"
    assert isinstance(train_config.created_at, datetime)
    assert train_config.data_schema.table_names == ["customers", "accounts"]
    assert train_config.model_parameters == ModelParameters()


def test_the_generation_example_constructs_as_written():
    gen_config = GenerationConfig(
        created_at=datetime.now(),
        model="model.hmf",
        data_output=[
            DataLocationOutput(
                name="output-table",
                location="/data/output.csv",
            )
        ],
        generate_params=GenSampleParams(magnitude=2.0),
    )
    assert gen_config.model == "model.hmf"
    assert gen_config.data_output[0].location == "/data/output.csv"
    assert gen_config.generate_params.magnitude == 2.0
    assert gen_config.generate_params.batch_magnitude is None
    assert gen_config.validation == ValidationConfig(enable=True)
