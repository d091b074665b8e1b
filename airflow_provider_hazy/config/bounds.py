"""Upper bounds on the settings that size a model, each with the reason in its error message.

Beyond these the model is not better, only larger or no longer private, and the arithmetic overflows
(`n_bins: 1e8` used to be accepted and killed the process at 22.8 GB; `epsilon: 1e308` ended in a raw
traceback after training).
"""

from __future__ import annotations

from typing import Optional

MAX_N_BINS = 10_000
MAX_CAT = 10_000
MAX_EPSILON = 1e6


def check_n_bins(value: Optional[int]) -> Optional[int]:
    """`n_bins` up to `MAX_N_BINS`."""
    if value is not None and value > MAX_N_BINS:
        raise ValueError(
            f"n_bins {value} is more than {MAX_N_BINS}: every bin's count gets its own noise, so finer bins add "
            "noise, not detail, and the count tables grow with n_bins ** (n_parents + 1)"
        )
    return value


def check_max_cat(value: Optional[int]) -> Optional[int]:
    """`max_cat` up to `MAX_CAT`."""
    if value is not None and value > MAX_CAT:
        raise ValueError(
            f"max_cat {value} is more than {MAX_CAT}: categories beyond that are each too rare to stand out of the "
            "noise, and the count tables grow with max_cat ** (n_parents + 1)"
        )
    return value


def check_epsilon(value: Optional[float]) -> Optional[float]:
    """A privacy budget up to `MAX_EPSILON`."""
    if value is not None and value > MAX_EPSILON:
        raise ValueError(
            f"epsilon {value:g} is more than {MAX_EPSILON:g}: its noise (scale 1/epsilon) would be far below one "
            "count, so the model would hold the data's exact counts with no meaningful privacy, and the mechanisms' "
            "arithmetic overflows beyond it"
        )
    return value
