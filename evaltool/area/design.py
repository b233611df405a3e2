"""Which evaluation designs the data support, in plain words.

* matched cohort (people-level matching + DiD): needs enrolled people and untreated eligible people;
* practice roll-out DiD: needs practices that have not gone live, or staggered go-live dates;
* whole-area designs: interrupted time series needs a pre-period of at least ``min_pre_months`` months;
  synthetic control / synthetic DiD also need at least ``min_donors`` comparison areas.

:func:`design_support` returns one row per design with ``supported`` and a ``reason`` sentence; ``evaltool
validate`` prints it and the report explains the choice from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from evaltool.area.panel import check_evaluated_area, validate_area_panel

__all__ = ["AreaInputs", "check_area_inputs", "design_support"]


def _months_between(a: Any, b: Any) -> int:
    a, b = pd.Timestamp(a), pd.Timestamp(b)
    return (b.year - a.year) * 12 + (b.month - a.month)


def design_support(*, population: pd.DataFrame | None = None, practices: pd.DataFrame | None = None,
                   window: tuple[Any, Any] | None = None, area_panel: pd.DataFrame | None = None,
                   treated_area: str | None = None, go_live: Any = None, min_pre_months: int = 24,
                   min_donors: int = 5) -> pd.DataFrame:
    """One row per design: ``design``, ``supported`` (bool), ``reason`` (a plain sentence).

    Examples
    --------
    >>> pop = pd.DataFrame({"treated": [1, 1, 1]})
    >>> t = design_support(population=pop)
    >>> t.loc[t.design == "matched_cohort", "supported"].item()
    False
    """
    rows = []
    if population is not None and "treated" in population.columns:
        tr = pd.to_numeric(population["treated"], errors="coerce")
        n1, n0 = int((tr == 1).sum()), int((tr == 0).sum())
        ok = n1 > 0 and n0 > 0
        why = (f"{n1:,} enrolled and {n0:,} not-enrolled people: matched comparison people can be found"
               if ok else (f"no untreated eligible people ({n1:,} enrolled, none not enrolled): everyone in the"
                           " area is covered, so there is nobody to match" if n1 else
                           "nobody is marked as enrolled (treated = 1)"))
        rows.append({"design": "matched_cohort", "supported": ok, "reason": why})
    else:
        rows.append({"design": "matched_cohort", "supported": False,
                     "reason": "no person-level population table"})
    if practices is not None and "go_live_date" in practices.columns:
        gl = pd.to_datetime(practices["go_live_date"])
        end = pd.Timestamp(window[1]) if window else None
        never = int((gl.isna() | ((gl > end) if end is not None else False)).sum())
        dates = gl.dropna().dt.to_period("M").nunique()
        ok = never > 0 or dates > 1
        why = (f"{never} practices not yet live and {dates} distinct go-live months: practices can be compared"
               if ok else "every practice went live in the same month: no practice-level comparison")
        rows.append({"design": "practice_rollout", "supported": ok, "reason": why})
    else:
        rows.append({"design": "practice_rollout", "supported": False,
                     "reason": "no practices table with go-live dates"})
    if area_panel is not None and go_live is not None:
        # the panel's own months (inside the study window) before go-live
        m = pd.to_datetime(area_panel["month"]).drop_duplicates()
        if window is not None:
            m = m[(m >= pd.Timestamp(window[0]).to_period("M").to_timestamp()) & (m <= pd.Timestamp(window[1]))]
        n_pre = int((m < pd.Timestamp(go_live).to_period("M").to_timestamp()).sum())
    elif window is not None and go_live is not None:
        n_pre = _months_between(window[0], go_live)
    else:
        n_pre = None
    if n_pre is None:
        rows.append({"design": "interrupted_time_series", "supported": False,
                     "reason": "no go-live date for the evaluated area"})
    else:
        ok = n_pre >= min_pre_months
        rows.append({"design": "interrupted_time_series", "supported": ok,
                     "reason": (f"{n_pre} months before go-live (at least {min_pre_months} needed to learn the"
                                f" trend and seasonality)")})
    if area_panel is None:
        rows.append({"design": "synthetic_comparison_areas", "supported": False,
                     "reason": "no area panel with comparison (donor) areas"})
    else:
        areas = area_panel.drop_duplicates("area_id")
        donors = int((areas["area_id"] != treated_area).sum() - (
            areas.loc[areas["area_id"] != treated_area, "go_live_date"].notna().sum()
            if "go_live_date" in areas else 0))
        ok = donors >= min_donors and (n_pre or 0) >= min_pre_months
        why = f"{donors} comparison areas that never went live (at least {min_donors} needed)"
        if n_pre is not None and n_pre < min_pre_months:
            why += f", and only {n_pre} months before go-live"
        rows.append({"design": "synthetic_comparison_areas", "supported": ok, "reason": why})
    return pd.DataFrame(rows, columns=["design", "supported", "reason"])


@dataclass(frozen=True)
class AreaInputs:
    """The checked area panel (None when there is none), the evaluated area's go-live and a summary."""

    panel: pd.DataFrame | None
    go_live: pd.Timestamp | None
    facts: dict[str, Any] = field(default_factory=dict)


def check_area_inputs(area_panel: pd.DataFrame | None, config: Any, *, window: tuple[Any, Any],
                      person_level: bool, practices: pd.DataFrame | None = None,
                      file: str = "area_panel") -> AreaInputs:
    """Check the inputs of the `area` section before anything runs (``evaltool validate`` and ``run``).

    The panel is checked against the contract (:func:`~evaltool.area.panel.validate_area_panel`). When the
    evaluated area's series comes from the panel (an area-only spec, or ``build_from_person_data: false``) it
    must hold that area with a go-live inside its months and enough months or comparison areas for a planned
    design (:func:`~evaltool.area.panel.check_evaluated_area`). Raises
    :class:`~evaltool.errors.DataValidationError` naming the file, column and rows.

    Examples
    --------
    >>> from evaltool.area.config import AreaConfig
    >>> p = pd.DataFrame({"area_id": ["A"] * 30, "month": pd.date_range("2020-01-01", periods=30, freq="MS"),
    ...                   "events": 10, "population": 1000})
    >>> cfg = AreaConfig(treated_area="A", build_from_person_data=False, go_live="2021-06-01", methods=("its",),
    ...                  min_pre_months=12)
    >>> chk = check_area_inputs(p, cfg, window=("2020-01-01", "2022-12-31"), person_level=False)
    >>> chk.facts["n_pre_months"], chk.facts["n_donors"]
    (17, 0)
    """
    panel = None if area_panel is None else validate_area_panel(
        area_panel, file=file, outcome=config.outcome if config is not None else None,
        predictors=tuple(config.predictors) if config is not None else ())
    if config is None:
        return AreaInputs(panel, None)
    from_panel = not (person_level and config.build_from_person_data)
    if from_panel:
        if panel is None:
            from evaltool.errors import DataValidationError

            raise DataValidationError("no area panel (data.area_panel): the evaluated area's series must come from"
                                      " it when there are no person-level tables")
        go, facts = check_evaluated_area(panel, treated_area=config.treated_area, go_live=config.go_live,
                                         window=window, methods=tuple(config.methods),
                                         min_pre_months=config.min_pre_months, min_donors=config.min_donors,
                                         file=file)
        return AreaInputs(panel, go, facts)
    go = config.go_live
    if go is None and practices is not None and "go_live_date" in practices:
        first = pd.to_datetime(practices["go_live_date"]).dropna()
        go = first.min() if len(first) else None
    return AreaInputs(panel, None if go is None else pd.Timestamp(go).to_period("M").to_timestamp())
