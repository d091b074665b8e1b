"""Readers and writers of tables: local files, S3 objects and SQL databases behind the same calls.

- `locations`: `read_table`, `read_table_chunks`, `open_writer` dispatch a configured location to
  `files` (local CSV / Parquet), `s3` (boto3) or `sql` (SQLAlchemy 2); `order_tables_for_write`.
- `sources`: `SecretDataSource` -> URL through an injectable resolver (default `HAZY_CONN_<ID>`),
  `DataSources` (engines and clients per source), `mask_url`.
- `sql`: streamed reads and one-transaction-per-batch writes; `sql_tables` (engines, identifiers, column
  types, CREATE/DROP) and `pg_copy` (PostgreSQL binary and CSV COPY encoders) beside it; `masking`: URL
  and message secrets masked for every reader and writer;
- `source_cache`: `use_cache`'s prepared source frames (and encoded sources) kept on disk between
  training runs, keyed by the schema, each source's fingerprint and the read settings.

No Airflow here: the Airflow resolver and hooks live in `airflow_provider_hazy.hooks`.
"""
