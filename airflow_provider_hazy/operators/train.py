"""`HazyTrainOperator`: train a PrivBayes model on the config's source tables and write the model file."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from .. import api
from ..config import TrainingConfig
from .base import HazyBaseOperator
from .configs import config_outlets


class HazyTrainOperator(HazyBaseOperator):
    """Run `api.train(config)`; `source_conn_id` / `aws_conn_id` name the Airflow connections it reads.

    :param register_as: a registry generator (docs/registry.md): the model is uploaded into a new draft
        version of it (the generator is created, with `register_teams`, if it does not exist).
    :param activate_when: minimum evaluation scores (`{"histogram_similarity": 0.8}`) at which that version
        is activated; `{}` activates it always; None leaves it draft.

    XCom: `{"model": path, "epsilon": total, "rows": {table: training rows}}`, plus `"registry"` when
    registered. Outlet: the model file.
    """

    template_fields: Sequence[str] = (*HazyBaseOperator.template_fields, "register_as")

    def __init__(
        self,
        *,
        register_as: Optional[str] = None,
        activate_when: Optional[Mapping[str, float]] = None,
        register_teams: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            kwargs["outlets"] = config_outlets(kwargs.get("config"), TrainingConfig)
        super().__init__(**kwargs)
        self.register_as = register_as
        self.activate_when = None if activate_when is None else dict(activate_when)
        self.register_teams = list(register_teams)

    def execute(self, context: Any) -> Dict[str, Any]:
        config = self.load(TrainingConfig)
        with self.connections():
            path = api.train(config)
        summary = api.inspect_model(path)
        epsilon = summary["privacy"]["total_epsilon"]
        self.log.info("model %s trained, total epsilon %s", path, epsilon)
        self.log.info("%s", summary["guarantee"])
        result: Dict[str, Any] = {
            "model": str(path),
            "epsilon": epsilon,
            "rows": {name: entry["n_rows"] for name, entry in summary["tables"].items()},
        }
        if self.register_as:
            from ..registry.publish import register_model

            with self.connections():  # the registry's connection `hazy_registry` resolves through Airflow
                result["registry"] = register_model(
                    path,
                    self.register_as,
                    activate_when=self.activate_when,
                    teams=self.register_teams,
                    description=config.description or config.title or "",
                    note=f"trained by {self.dag_id}.{self.task_id}",
                )
            self.log.info("registry: %s v%s %s", self.register_as, result["registry"]["version"],
                          result["registry"]["reason"])
        return result
