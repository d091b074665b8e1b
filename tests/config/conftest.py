"""Rich configurations shared by the file, JSON Schema and sanitize tests: every column type, table type,
location kind, metric and post-generation step, and a non-default value for most fields."""

from datetime import date, datetime

import pytest

from airflow_provider_hazy.config import (
    AgeColumn,
    BoolColumn,
    CastColumn,
    CategoryColumn,
    ClipColumn,
    ConstantColumn,
    CrossTableMutualInformationSimilarityParams,
    DatabaseReadTableConfig,
    DatabaseSubsettingParams,
    DatabaseWriteTableConfig,
    DataLocationInput,
    DataLocationOutput,
    DataSchema,
    DateColumn,
    DatetimeColumn,
    DegreeDistributionSimilarityParams,
    DensityDisclosureParams,
    DistanceToClosestRecordParams,
    DropColumns,
    EvalSampleParams,
    EvaluationConfig,
    FloatColumn,
    ForeignKeyColumn,
    GenerationConfig,
    GenSampleParams,
    HistogramSimilarityParams,
    IdColumn,
    IntegerColumn,
    LocationColumn,
    ModelParameters,
    MultiTableTrainingParams,
    MutualInformationSimilarityParams,
    PathReadTableConfig,
    PathWriteTableConfig,
    PersonColumn,
    PostGenerationConfig,
    PredictiveUtilityParams,
    PresenceDisclosureParams,
    PrivBayesConfig,
    ReferenceTable,
    RenameColumns,
    SampleParams,
    SecretDataSource,
    SequentialTable,
    SequentialTrainingParams,
    SqlExpression,
    TablePostGeneration,
    TabularTable,
    TrainingConfig,
    ValidationConfig,
)


def rich_data_schema() -> DataSchema:
    """Five tables of the three table types using all twelve column types, a composite key and a chain of FKs."""
    return DataSchema(
        tables=[
            ReferenceTable(
                name="countries",
                columns=[IdColumn(name="country_id", start=100), CategoryColumn(name="country_name")],
            ),
            TabularTable(
                name="customers",
                columns=[
                    IdColumn(name="customer_id", format="pattern", pattern="CUST-{digits:6}"),
                    ForeignKeyColumn(name="country_id", ref_table="countries", ref_column="country_id"),
                    PersonColumn(name="full_name", part="full_name", locale="en_US"),
                    PersonColumn(name="email", part="email"),
                    LocationColumn(name="city", part="city"),
                    LocationColumn(name="postcode", part="postcode", locale="de_DE"),
                    CategoryColumn(name="segment", max_cat=10),
                    DateColumn(name="dob", format="%d/%m/%Y"),
                    AgeColumn(name="age", dob_column="dob", reference_date=date(2024, 1, 1)),
                    DatetimeColumn(name="signed_up_at", format="%Y-%m-%d %H:%M:%S"),
                    BoolColumn(name="is_active"),
                    FloatColumn(name="income", n_bins=20, bin_strategy="quantile"),
                    IntegerColumn(name="n_logins", n_bins=5, bin_strategy="uniform"),
                    ConstantColumn(name="source_system", value="crm"),
                    ConstantColumn(name="schema_version", value=3),
                ],
            ),
            TabularTable(
                name="orders",
                columns=[
                    IdColumn(name="order_id", format="uuid"),
                    ForeignKeyColumn(name="customer_id", ref_table="customers", ref_column="customer_id"),
                    FloatColumn(name="amount"),
                    DatetimeColumn(name="placed_at"),
                ],
            ),
            TabularTable(
                name="order_items",
                primary_key=["order_id", "line_id"],
                columns=[
                    ForeignKeyColumn(name="order_id", ref_table="orders", ref_column="order_id"),
                    IdColumn(name="line_id"),
                    IntegerColumn(name="quantity"),
                    ConstantColumn(name="discount", value=0.5),
                ],
            ),
            SequentialTable(
                name="transactions",
                sequence_id="customer_id",
                sort_by=["booked_at", "txn_id"],
                columns=[
                    IdColumn(name="txn_id"),
                    ForeignKeyColumn(name="customer_id", ref_table="customers", ref_column="customer_id"),
                    DatetimeColumn(name="booked_at"),
                    FloatColumn(name="amount"),
                    ConstantColumn(name="reversed", value=False),
                ],
            ),
        ]
    )


@pytest.fixture
def rich_training_config() -> TrainingConfig:
    """A training config setting (almost) every field, and every kind of location and data source."""
    return TrainingConfig(
        created_at=datetime(2024, 5, 6, 7, 8, 9, 123456),
        model_output=PathWriteTableConfig(path="s3://models/customers.hmf", source_id="lake", if_exists="replace"),
        data_schema=rich_data_schema(),
        data_input=[
            DataLocationInput(name="countries", location="data/countries.csv"),
            DataLocationInput(
                name="customers",
                location=DatabaseReadTableConfig(source_id="warehouse", schema_name="crm", table_name="customers"),
            ),
            DataLocationInput(
                name="orders", location=DatabaseReadTableConfig(source_id="warehouse", table_name="orders")
            ),
            DataLocationInput(name="order_items", location=PathReadTableConfig(path="data/order_items.parquet")),
            DataLocationInput(
                name="transactions",
                location=PathReadTableConfig(path="s3://lake/transactions.csv.gz", source_id="lake"),
            ),
        ],
        data_sources=[
            SecretDataSource(id="warehouse", name="Production warehouse", conn_id="postgres_prod"),
            SecretDataSource(id="lake"),
        ],
        model_parameters=ModelParameters(
            generator=PrivBayesConfig(
                skew_threshold=1.5,
                split_time=True,
                n_bins=30,
                single_threshold=0.05,
                max_cat=50,
                bin_strategy_default="quantile",
                drop_empty_bins=True,
                processing_epsilon=0.1,
                preserve_datetime_range=False,
                epsilon=2.5,
                n_parents=2,
                network_sample_rows=5000,
                sample_parents=10,
                default_strategy="marginal",
            ),
            multi_table=MultiTableTrainingParams(adjacency_type="random", parent_compression=4, use_cache=True),
            sequential=SequentialTrainingParams(window_size=5, n_predict=2),
        ),
        evaluation=EvaluationConfig(
            metrics=[
                HistogramSimilarityParams(table="customers"),
                MutualInformationSimilarityParams(),
                CrossTableMutualInformationSimilarityParams(),
                DegreeDistributionSimilarityParams(table="orders"),
                PredictiveUtilityParams(table="customers", target="segment"),
                PresenceDisclosureParams(),
                DensityDisclosureParams(),
                DistanceToClosestRecordParams(table="orders"),
            ],
            eval_sample_params=EvalSampleParams(magnitude=0.5),
        ),
        sample_params=SampleParams(magnitude=0.25, auto_magnitude=False),
        train_test_split=True,
        database_subsetting_params=DatabaseSubsettingParams(target_table="customers", fraction=0.5, test_fraction=0.1),
        random_state=7,
        title="Customers",
        description="Nightly refresh of the customer database.",
        metadata={"team": "risk", "ticket": "DATA-42"},
        nrows=100_000,
        strip_strings=True,
        empty_strings_as_null=False,
        acknowledgement=True,
    )


@pytest.fixture
def rich_generation_config() -> GenerationConfig:
    """A generation config setting every field, every kind of output and every post-generation step."""
    return GenerationConfig(
        created_at=datetime(2024, 5, 6, 7, 8, 9),
        model=PathReadTableConfig(path="s3://models/customers.hmf", source_id="lake"),
        data_output=[
            DataLocationOutput(name="countries", location="out/countries.csv"),
            DataLocationOutput(
                name="customers",
                location=DatabaseWriteTableConfig(
                    source_id="target",
                    schema_name="crm",
                    table_name="customers",
                    if_exists="append",
                    fail_safe_path="out/failed/customers.parquet",
                ),
            ),
            DataLocationOutput(
                name="orders",
                location=PathWriteTableConfig(
                    path="s3://lake/orders.parquet",
                    source_id="lake",
                    if_exists="replace",
                    fail_safe_path="out/failed/orders.parquet",
                ),
            ),
        ],
        data_sources=[SecretDataSource(id="target", conn_id="postgres_test"), SecretDataSource(id="lake")],
        random_state=11,
        generate_params=GenSampleParams(
            magnitude=2.0,
            batch_magnitude=0.5,
            limit_strings=True,
            drop_unique_violation=True,
            post_generation=PostGenerationConfig(
                tables=[
                    TablePostGeneration(
                        table="customers",
                        steps=[
                            DropColumns(columns=["email"]),
                            RenameColumns(mapping={"full_name": "name"}),
                            ClipColumn(column="income", lower=0.0, upper=1_000_000.0),
                            CastColumn(column="n_logins", dtype="int"),
                        ],
                    ),
                    TablePostGeneration(
                        table="orders", steps=[SqlExpression(column="amount", expression="ROUND(amount, 2)")]
                    ),
                ]
            ),
        ),
        validation=ValidationConfig(enable=False),
        generation_state_path=PathWriteTableConfig(path="out/state.json", if_exists="replace"),
    )
