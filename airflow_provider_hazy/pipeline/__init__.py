"""The engine's stages, one module each, between the `api` facade and the layers below (`io`, `core`,
`metrics`, `model_file`, `config`).

- `model`: `Model`, `TableModel`, `CrossTable`, the manifest, `save_model` / `load_model` / `inspect_model`;
- `sources`: reading the source tables (and the source cache), the subset / train-test split;
- `training`: sources -> subset / split -> fit in foreign-key order (streamed or in memory) -> evaluation
  -> model;
- `batches`: the generation plan, drawing and finishing one batch of every table (keys included);
- `generation`: plan -> batches -> write (fail-safe, retry deletion) -> state -> validation;
- `evaluation`: evaluation at training and on demand, validation of written output.

Imports point down the list's dependency order: `model` <- `batches` <- `evaluation` <- `training`,
`generation`; `sources` <- `training`. No two modules import each other (tests/test_architecture.py).
This file imports nothing, so importing one stage does not load the others.
"""
