"""The model: what training produces and generation reads.

- `CrossTable`, `TableModel`, `Model`: one table's fitted parts (encoding, PrivBayes network, degree model,
  null rates) and the whole model (manifest, tables, copied reference tables).
- `build_manifest`: the JSON manifest of a fitted model (metadata, the privacy ledger, the sanitized
  training config, the schema, per-table encoders and networks, the multi-table relations).
- `save_model` / `load_model`: a `Model` to and from `model_file.py`'s `.hmf` format (manifest JSON plus
  plain `.npy` arrays, no pickle); `inspect_model`: what a model holds, from its manifest alone.

Imports `core`, `config` and `model_file` only; every other `pipeline` module builds on this one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import pandas as pd

from .. import __version__
from ..config import TrainingConfig
from ..config.enums import AdjacencyType
from ..config.schema import BaseTable, DataSchema
from ..core import cross_table, multitable, privbayes, sequence_frames
from ..core.degrees import SecondaryDegrees
from ..core.encoding import TableEncoding
from ..core.privacy import BudgetLedger
from ..model_file import ModelFileError, read_manifest, read_model, write_model
from . import evaluation_file, guarantee


@dataclass
class CrossTable:
    """A child table's network conditioned on parent columns: which parent code columns are joined on."""

    parent: str
    parent_columns: List[int]
    selected: List[int]
    n_child_columns: int
    parent_column_names: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {
            "parent": self.parent,
            "parent_columns": list(self.parent_columns),
            "selected": list(self.selected),
            "n_child_columns": self.n_child_columns,
            "parent_column_names": list(self.parent_column_names),
        }


@dataclass
class TableModel:
    """One table's fitted parts: its encoding and its PrivBayes model over the encoded columns, and for a child
    table its degree model, the parent columns its network is conditioned on, and its foreign keys' null rates."""

    name: str
    n_rows: int
    encoding: TableEncoding
    network: privbayes.PrivBayesModel
    cross_table: Optional[CrossTable] = None
    degree: Optional[multitable.DegreeModel] = None
    null_rates: Dict[str, float] = field(default_factory=dict)
    sequence: Optional[sequence_frames.SequentialFit] = None
    """A sequential table's histories model (its length model is `degree`; `network` is the first-row one)."""
    secondary_degrees: Dict[str, SecondaryDegrees] = field(default_factory=dict)

    def sample_codes(self, n_rows: int, rng: np.random.Generator, given: Optional[np.ndarray] = None) -> np.ndarray:
        """Codes of `n_rows` rows; with `given` (the joined parent columns), drawn conditionally on them."""
        if self.cross_table is None:
            return privbayes.sample(self.network, n_rows, rng)
        assert given is not None, f"table '{self.name}': its network needs its parent's columns"
        return cross_table.sample_conditioned(self.network, self.cross_table.n_child_columns, given, rng)

    def sample(self, n_rows: int, start_row: int, rng: np.random.Generator) -> pd.DataFrame:
        """`n_rows` synthetic rows whose generated keys start at global row `start_row` (a table on its own)."""
        if self.cross_table is not None:
            raise ValueError(f"table '{self.name}' is a child table: generate it with its parents (api.generate)")
        return self.encoding.generate(privbayes.sample(self.network, n_rows, rng), start_row, rng)


@dataclass
class Model:
    """A trained model: the manifest (metadata, ledger, schema), one `TableModel` per modelled table, and the
    reference tables (public by declaration, copied as they are)."""

    manifest: Dict[str, Any]
    tables: Dict[str, TableModel]
    references: Dict[str, pd.DataFrame] = field(default_factory=dict)
    evaluation_detail: Optional[Dict[str, Any]] = None
    """The full evaluation of training (histograms, matrices): written beside the model, never into it."""

    @property
    def total_epsilon(self) -> float:
        """The privacy ledger's total."""
        return float(self.manifest["privacy"]["total_epsilon"])

    @property
    def schema(self) -> DataSchema:
        return DataSchema.model_validate(self.manifest["schema"])

    def graph(self) -> multitable.ForeignKeyGraph:
        """The foreign-key graph, with driving parents chosen from the recorded (public) row counts."""
        n_rows = {name: int(entry["n_rows"]) for name, entry in self.manifest["tables"].items()}
        return multitable.build_graph(self.schema, n_rows)


def frame_records(frame: pd.DataFrame) -> List[Dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def adjacency_type(config: TrainingConfig) -> str:
    """`default` is degree_preserving (docs/multitable.md)."""
    adjacency = config.model_parameters.multi_table.adjacency_type
    return "random" if adjacency == AdjacencyType.RANDOM else "degree_preserving"


def parent_compression(config: TrainingConfig) -> int:
    compression = config.model_parameters.multi_table.parent_compression
    return multitable.DEFAULT_PARENT_COLUMNS if compression is None else int(compression)


def build_manifest(
    config: TrainingConfig,
    tables: Dict[str, TableModel],
    ledger: BudgetLedger,
    *,
    graph: Optional[multitable.ForeignKeyGraph] = None,
    references: Optional[Dict[str, pd.DataFrame]] = None,
    budget: Optional[multitable.BudgetPlan] = None,
) -> Dict[str, Any]:
    generator = config.model_parameters.generator
    processing_private = generator.processing_epsilon is not None
    references = references or {}
    entries: Dict[str, Any] = {}
    for table in config.data_schema.tables:
        name = table.name
        if name in references:
            entries[name] = _reference_entry(table, references[name])
        elif name in tables:
            entries[name] = _table_entry(tables[name], ledger, graph)
    return {
        "package_version": __version__,
        "synthesiser": generator.generator_type,
        "created_at": config.created_at.isoformat() if config.created_at else None,
        "title": config.title,
        "description": config.description,
        "metadata": dict(config.metadata),
        "privacy": {
            "total_epsilon": ledger.total_epsilon,
            "epsilon": generator.epsilon,
            "processing_epsilon": generator.processing_epsilon,
            "processing_private": processing_private,
            "neighbouring": "bounded: databases differ in one row of one table; row counts are public",
            "budget_rule": MULTI_TABLE_BUDGET_RULE,
            **guarantee.privacy_record(ledger),
            "ledger": ledger.to_dict(),
        },
        "training_config": config.sanitize().model_dump(mode="json"),
        "schema": config.data_schema.model_dump(mode="json"),
        "multi_table": _multi_table_entry(config, graph, budget),
        "tables": entries,
        "evaluation": None,
    }


MULTI_TABLE_BUDGET_RULE = (
    "epsilon / (T + 0.5 R) per modelled table (T tables) and half that per degree model (R driving foreign "
    "keys); 2% of a table's share per null rate of a foreign key outside its primary key; 10% of it per degree "
    "histogram of a secondary foreign key; processing_epsilon / T "
    "per table; reference tables are public and cost nothing (docs/multitable.md)"
)


def _multi_table_entry(
    config: TrainingConfig, graph: Optional[multitable.ForeignKeyGraph], budget: Optional[multitable.BudgetPlan]
) -> Dict[str, Any]:
    if graph is None:
        return {}
    return {
        "adjacency_type": adjacency_type(config),
        "parent_compression": parent_compression(config),
        "order": list(graph.order),
        "reference_tables": list(graph.reference_tables),
        "relations": [
            {
                **relation.to_json(),
                "role": "self"
                if relation.is_self
                else ("driving" if graph.driving.get(relation.child) == relation else "secondary"),
                "epsilon": 0.0
                if budget is None
                else budget.relation_epsilon(relation),
            }
            for relation in graph.relations
        ],
    }


def _table_entry(
    table: TableModel, ledger: BudgetLedger, graph: Optional[multitable.ForeignKeyGraph]
) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "type": table.encoding.table.type,
        "n_rows": table.n_rows,
        "epsilon": ledger.total_for_table(table.name),
        "columns": table.encoding.describe(),
        "network_edges": [] if table.sequence is not None else _named_edges(table),
        "encoding": table.encoding.to_json(),
        "network": table.network.to_json(),
    }
    if table.cross_table is not None:
        entry["cross_table"] = table.cross_table.to_json()
    if table.sequence is not None and table.cross_table is not None:
        entry["sequence"] = sequence_frames.fitted_to_json(table.sequence)
        owner = table.cross_table
        entry["network_edges"] = sequence_frames.named_edges(table.sequence, owner.parent, owner.parent_column_names)
    if table.degree is not None:
        entry["degree"] = table.degree.to_json()
    if table.null_rates:
        entry["null_rates"] = dict(table.null_rates)
    if table.secondary_degrees:
        entry["secondary_degrees"] = [model.to_json() for model in table.secondary_degrees.values()]
    return entry


def _reference_entry(table: BaseTable, frame: pd.DataFrame) -> Dict[str, Any]:
    return {
        "type": "reference",
        "n_rows": len(frame),
        "epsilon": 0.0,
        "copied": True,
        "privacy": "public by declaration (type: reference): copied as it is, not charged to the ledger",
        "columns": [
            {"name": column.name, "type": column.type, "modelled": False, "generated": "copied"}
            for column in table.columns
        ],
        "network_edges": [],
        "rows": frame_records(frame),
    }


def _named_edges(table: TableModel) -> List[Dict[str, Any]]:
    names = list(table.encoding.modelled_columns)
    if table.cross_table is not None:
        parent = table.cross_table.parent
        parent_names = [f"{parent}.{column}" for column in table.cross_table.parent_column_names]
        names = names + parent_names
    return [
        {"child": names[child], "parents": [names[parent] for parent in parents]}
        for child, parents in table.network.network_edges()
        if child < len(table.encoding.modelled_columns)
    ]


def inspect_model(path: Union[str, Path]) -> Dict[str, Any]:
    """What a model holds, from its manifest alone: synthesiser, privacy ledger, tables (each with its share of
    epsilon, its columns and network, its degree model), the foreign-key relations. A manifest that lacks
    what a model holds is a `ModelFileError` naming the file."""
    manifest = read_manifest(path)
    try:
        return _summary(path, manifest)
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ModelFileError(f"{path}: damaged model file (manifest: {type(error).__name__}: {error})") from error


def _summary(path: Union[str, Path], manifest: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "path": str(path),
        "format_version": manifest["format_version"],
        "package_version": manifest.get("package_version"),
        "synthesiser": manifest["synthesiser"],
        "title": manifest.get("title", ""),
        "created_at": manifest.get("created_at"),
        "privacy": manifest["privacy"],
        "guarantee": guarantee.guarantee_line(manifest),
        "multi_table": manifest.get("multi_table", {}),
        "tables": {
            name: {
                "type": entry.get("type", "tabular"),
                "n_rows": entry["n_rows"],
                "epsilon": entry["epsilon"],
                "columns": entry["columns"],
                "network": entry["network_edges"],
                **({"degree": entry["degree"]} if "degree" in entry else {}),
                **({"secondary_degrees": entry["secondary_degrees"]} if "secondary_degrees" in entry else {}),
                **({"sequence": sequence_frames.summary(entry["sequence"])} if "sequence" in entry else {}),
                **({"copied": True} if entry.get("copied") else {}),
            }
            for name, entry in manifest["tables"].items()
        },
        "evaluation": manifest.get("evaluation"),
    }


def table_order(manifest: Dict[str, Any]) -> List[str]:
    """The model's tables in schema order (the order of the `t<index>` arrays and of the table streams)."""
    return [table["name"] for table in manifest["schema"]["tables"] if table["name"] in manifest["tables"]]


def _model_arrays(model: Model) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {}
    for index, name in enumerate(table_order(model.manifest)):
        table = model.tables.get(name)
        if table is None:
            continue
        for key, array in table.encoding.arrays().items():
            arrays[f"t{index}.encoding.{key}"] = array
        for key, array in table.network.to_arrays().items():
            arrays[f"t{index}.network.{key}"] = array
        if table.sequence is not None:
            for key, array in sequence_frames.fitted_arrays(table.sequence).items():
                arrays[f"t{index}.sequence.{key}"] = array
        if table.degree is not None and table.degree.adjacency != "random":
            for key, array in table.degree.arrays().items():
                arrays[f"t{index}.degree.{key}"] = array
        for number, secondary in enumerate(table.secondary_degrees.values()):
            for key, array in secondary.arrays().items():
                arrays[f"t{index}.secondary{number}.{key}"] = array
    return arrays


def save_model(model: Model, path: Union[str, Path]) -> Path:
    """Write a model to a `.hmf` file, and its evaluation detail (if any) to `<stem>.evaluation.json` beside it."""
    written = write_model(path, evaluation_file.with_detail_name(model.manifest, path), _model_arrays(model))
    evaluation_file.write_detail(written, model.evaluation_detail)
    return written


def _prefixed(arrays: Dict[str, np.ndarray], prefix: str) -> Dict[str, np.ndarray]:
    return {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}


def _reference_frame(table: BaseTable, rows: List[Dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=[column.name for column in table.columns])
    for column in table.columns:
        if column.type in ("datetime", "date") and len(frame):
            frame[column.name] = pd.to_datetime(frame[column.name], errors="coerce")
            if column.type == "date":
                frame[column.name] = frame[column.name].dt.date
    return frame


def load_model(path: Union[str, Path]) -> Model:
    """Read a `.hmf` file (no pickle: the manifest is JSON, the arrays plain .npy); a manifest or array that
    does not make a model is a `ModelFileError` naming the file."""
    manifest, arrays = read_model(path)
    try:
        return _model_from_parts(manifest, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        raise ModelFileError(f"{path}: damaged model file ({type(error).__name__}: {error})") from error


def _model_from_parts(manifest: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> Model:
    schema = DataSchema.model_validate(manifest["schema"])
    tables: Dict[str, TableModel] = {}
    references: Dict[str, pd.DataFrame] = {}
    for index, name in enumerate(table_order(manifest)):
        entry = manifest["tables"][name]
        if entry.get("type") == "reference":
            references[name] = _reference_frame(schema.table(name), entry.get("rows", []))
            continue
        prefix = f"t{index}."
        cross = entry.get("cross_table")
        degree = entry.get("degree")
        encoding = TableEncoding.from_parts(entry["encoding"], _prefixed(arrays, prefix + "encoding."))
        sequence = entry.get("sequence")
        tables[name] = TableModel(
            name=name,
            n_rows=int(entry["n_rows"]),
            sequence=None
            if sequence is None
            else sequence_frames.fitted_from_parts(
                sequence, _prefixed(arrays, prefix + "sequence."), encoding, int(entry["n_rows"])
            ),
            encoding=encoding,
            network=privbayes.PrivBayesModel.from_parts(entry["network"], _prefixed(arrays, prefix + "network.")),
            cross_table=None
            if cross is None
            else CrossTable(
                cross["parent"],
                list(cross["parent_columns"]),
                list(cross["selected"]),
                int(cross["n_child_columns"]),
                list(cross.get("parent_column_names", [])),
            ),
            degree=None if degree is None else _load_degree(degree, _prefixed(arrays, prefix + "degree.")),
            null_rates={key: float(value) for key, value in entry.get("null_rates", {}).items()},
            secondary_degrees={
                data["relation"]: SecondaryDegrees.from_parts(data, _prefixed(arrays, f"{prefix}secondary{number}."))
                for number, data in enumerate(entry.get("secondary_degrees", []))
            },
        )
    return Model(manifest=manifest, tables=tables, references=references)


def _load_degree(data: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> multitable.DegreeModel:
    if data["adjacency"] == "random":
        relation = multitable.Relation.from_json(data["relation"])
        return multitable.DegreeModel(relation, "random", int(data["cap"]), float(data["ratio"]))
    return multitable.DegreeModel.from_parts(data, arrays)
