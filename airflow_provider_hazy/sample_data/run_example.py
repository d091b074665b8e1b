"""Run the example DAG `hazy_db_to_db` end to end on the bundled sample, with no Airflow server.

`python -m airflow_provider_hazy.sample_data.run_example [--dag hazy_db_to_db] [--home DIR]` sets up a
fresh AIRFLOW_HOME (a temporary folder unless `--home`; SQLite metadata DB, no example DAGs), creates the
metadata tables, runs `dag.test()` of the DAG in this process, then prints where the synthetic database
is and the model's evaluation scores. The folder is kept, so the output can be inspected afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional


def _dags_folder() -> Path:
    folder = Path(os.environ.get("HAZY_DAGS_FOLDER") or Path(__file__).resolve().parents[2] / "dags")
    if not (folder / "hazy_db_to_db.py").is_file():
        raise SystemExit(f"no example DAGs in {folder}: run from a checkout, or set HAZY_DAGS_FOLDER")
    return folder


def _configure(home: Path) -> None:
    """The Airflow environment; must happen before Airflow is imported."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_dags_folder())
    os.environ.setdefault("HAZY_WORK_DIR", str(home / "hazy"))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dag", default="hazy_db_to_db", help="example DAG to run (default: hazy_db_to_db)")
    parser.add_argument("--home", help="AIRFLOW_HOME to use (default: a new temporary folder, kept)")
    args = parser.parse_args(argv)
    home = Path(args.home or tempfile.mkdtemp(prefix="hazy-example-")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    _configure(home)

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from .defaults import TARGET_CONN_ID

    db.initdb()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        print(json.dumps(bag.import_errors, indent=2), file=sys.stderr)
        return 1
    run = bag.get_dag(args.dag).test()
    states = {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
        for ti in run.get_task_instances()
    }
    print("\n" + "=" * 72)
    print(f"DAG {args.dag}: {run.state}   (AIRFLOW_HOME={home})")
    print("tasks: " + ", ".join(f"{task}={state}" for task, state in sorted(states.items())))
    target = json.loads(os.environ.get(f"AIRFLOW_CONN_{TARGET_CONN_ID.upper()}", "{}")).get("host")
    if target:
        print(f"synthetic database: {target}")
    evaluation = run.get_task_instance("evaluate") if "evaluate" in states else None
    if evaluation is not None and str(evaluation.state) == "success":
        result = evaluation.xcom_pull(task_ids="evaluate") or {}
        print("evaluation scores:")
        for metric, score in (result.get("scores") or {}).items():
            print(f"  {metric:<45} {'n/a' if score is None else f'{score:.3f}'}")
        if result.get("report"):
            print(f"evaluation report: {result['report']}")
    print("=" * 72)
    return 0 if str(run.state) == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
