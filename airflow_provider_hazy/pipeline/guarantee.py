"""What a model's privacy guarantee is, in one line: `hazy train`, `hazy inspect` and the train operator's log.

The line is read off the manifest alone (so it works for any model file): the ledger's total (epsilon,
delta) and the unit of privacy, whether preprocessing was private, whether the noise was fresh, and what
is outside the budget. An epsilon above `MEANINGFUL_EPSILON` is called what it is: not meaningfully private
(the configurator's default, 1000, with `processing_epsilon` unset, is such a model).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ..core.privacy import BudgetLedger

MEANINGFUL_EPSILON = 10.0
"""Above this total epsilon a model is not called private: e**10 (about 22,000) bounds how much likelier
any output becomes when one row changes, which rules out little."""
UNIT_OF_PRIVACY = "one row of one table"


def privacy_record(ledger: BudgetLedger) -> Dict[str, Any]:
    """What the manifest's `privacy` section records beside the ledger: its total delta and its noise."""
    return {
        "total_delta": ledger.total_delta,
        "noise": ledger.noise_description,
        "private_noise": ledger.private_noise,
        "unit_of_privacy": UNIT_OF_PRIVACY,
    }


def outside_budget(manifest: Mapping[str, Any]) -> List[str]:
    """What the model holds or reveals that the ledger does not cover."""
    privacy = manifest.get("privacy", {})
    outside = ["row counts (public)"]
    if not privacy.get("processing_private"):
        outside.append("preprocessing (category values, ranges, null presence, value types, text lengths: "
                       "read from the data)")
    if manifest.get("evaluation"):
        outside.append("evaluation scores (computed on source rows)")
    references = [name for name, entry in manifest.get("tables", {}).items() if entry.get("type") == "reference"]
    if references:
        outside.append(f"reference tables copied as declared public ({', '.join(references)})")
    return outside


def guarantee_line(manifest: Mapping[str, Any]) -> str:
    """The model's guarantee in one line (module docstring)."""
    privacy = manifest.get("privacy", {})
    epsilon = float(privacy.get("total_epsilon", 0.0))
    ledger = privacy.get("ledger", {})
    delta = float(privacy.get("total_delta", ledger.get("total_delta", 0.0)) or 0.0)
    noise = privacy.get("noise") or ledger.get("noise") or "unrecorded (drawn from random_state)"
    private_noise = bool(privacy.get("private_noise", False))
    processing_private = bool(privacy.get("processing_private"))
    bound = f"(epsilon {epsilon:g}, delta {delta:g})" if delta else f"epsilon {epsilon:g}"
    parts = []
    if not private_noise:
        parts.append(f"NOT PRIVATE: noise {noise}")
    covered = "the whole model" if processing_private else "the network and conditionals only"
    if epsilon > MEANINGFUL_EPSILON:
        parts.append(f"{bound}: not meaningfully private (epsilon above {MEANINGFUL_EPSILON:g})")
    else:
        parts.append(f"{bound}-differential privacy of {covered}, unit {UNIT_OF_PRIVACY}")
    parts.append("preprocessing private" if processing_private else "preprocessing NOT private")
    parts.append("outside the budget: " + "; ".join(outside_budget(manifest)))
    parts.append("retraining spends the budget again")
    return "guarantee: " + "; ".join(parts)
