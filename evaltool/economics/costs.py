"""Programme costs and inflation: what the programme cost over the costing period, in one price year.

Each cost line is ``value x multiplier x inflation factor``: the figure as the user gave it (a
salary per WTE-year, a licence per year, a set-up sum, a cost per patient), what it is multiplied
by over the costing period (WTE x years in post, years running, enrolments, enrolled
person-years, the share of an annuitised set-up cost falling in the period) and the ratio of
the inflation index in the common price year to that in the figure's price year. Because every
line is linear in its value, the one-way sensitivity analysis (:mod:`evaltool.economics.sensitivity`)
moves one value at a time.

Examples
--------
>>> inflate(100.0, 2022, 2024, {2022: 100.0, 2023: 104.0, 2024: 108.0})
108.0
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.economics.config import InflationIndex, ProgrammeCostsConfig
from evaltool.economics.discounting import annuity_factor
from evaltool.errors import DataValidationError, SpecError

__all__ = ["ProgrammeCostResult", "enrolled_person_time", "financial_year", "inflate", "programme_costs"]

YEAR_DAYS = 365.25


def inflate(amount: float, from_year: int, to_year: int, index: Mapping[int, float] | InflationIndex | None) -> float:
    """Bring ``amount`` from prices of ``from_year`` to prices of ``to_year`` with an index by year.

    Examples
    --------
    >>> inflate(50.0, 2024, 2024, None)
    50.0
    """
    return float(amount) * inflation_factor(from_year, to_year, index)


def inflation_factor(from_year: int, to_year: int, index: Mapping[int, float] | InflationIndex | None) -> float:
    """``index[to_year] / index[from_year]`` (1 when the years agree)."""
    if int(from_year) == int(to_year):
        return 1.0
    values = index.values if isinstance(index, InflationIndex) else index
    if not values:
        raise SpecError(f"a figure priced in {from_year} must be inflated to {to_year}: give `economics.inflation`")
    missing = [y for y in (from_year, to_year) if y not in values]
    if missing:
        raise SpecError(f"`economics.inflation.values` has no value for year(s) {missing}")
    return float(values[to_year]) / float(values[from_year])


def financial_year(d: pd.Timestamp | date) -> int:
    """The financial year (April to March) containing ``d``, named by its first calendar year.

    Examples
    --------
    >>> financial_year(pd.Timestamp("2024-03-31")), financial_year(pd.Timestamp("2024-04-01"))
    (2023, 2024)
    """
    d = pd.Timestamp(d)
    return d.year if d.month >= 4 else d.year - 1


def _fy_bounds(start: pd.Timestamp, end_excl: pd.Timestamp) -> list[tuple[int, pd.Timestamp, pd.Timestamp]]:
    out = []
    fy = financial_year(start)
    while True:
        a, b = pd.Timestamp(fy, 4, 1), pd.Timestamp(fy + 1, 4, 1)
        if a >= end_excl:
            break
        out.append((fy, max(a, start), min(b, end_excl)))
        fy += 1
    return out


def _years(a: pd.Timestamp, b: pd.Timestamp) -> float:
    return max(0.0, (b - a).days / YEAR_DAYS)


def enrolled_person_time(population: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                         caseload_months: int | None = None) -> pd.DataFrame:
    """Enrolled people's time on the caseload within ``[start, end]``, one row per enrolled person.

    Time runs from the index (enrolment) date to the earliest of death, leaving the practice
    (``registration_end``), ``caseload_months`` after enrolment and ``end`` (inclusive).
    Returns ``person_id, index_date, entry, exit`` (exit exclusive) and ``years``.

    Examples
    --------
    >>> pop = pd.DataFrame({"person_id": ["a", "b"], "treated": [1, 0],
    ...     "index_date": pd.to_datetime(["2024-01-01", None])})
    >>> t = enrolled_person_time(pop, pd.Timestamp("2023-04-01"), pd.Timestamp("2024-12-31"))
    >>> round(float(t["years"].sum()), 3)
    1.002
    """
    for c in ("person_id", "treated", "index_date"):
        if c not in population.columns:
            raise DataValidationError(f"`population` lacks column {c!r}, needed for enrolled person-time")
    enr = population.loc[pd.to_numeric(population["treated"], errors="coerce") == 1].copy()
    enr = enr[enr["index_date"].notna()]
    idx = pd.to_datetime(enr["index_date"])
    stop = pd.Series(pd.Timestamp(end) + pd.Timedelta(days=1), index=enr.index)
    for c, plus in (("death_date", 1), ("registration_end", 1)):
        if c in enr.columns:
            d = pd.to_datetime(enr[c]) + pd.Timedelta(days=plus)
            stop = stop.where(d.isna() | (d >= stop), d)
    if caseload_months is not None:
        cap = idx + pd.DateOffset(months=int(caseload_months))
        stop = stop.where(cap >= stop, cap)
    entry = idx.where(idx >= pd.Timestamp(start), pd.Timestamp(start))
    out = pd.DataFrame({"person_id": enr["person_id"].astype(str).to_numpy(), "index_date": idx.to_numpy(),
                        "entry": entry.to_numpy(), "exit": stop.to_numpy()})
    out["years"] = np.clip((out["exit"] - out["entry"]).dt.days.to_numpy() / YEAR_DAYS, 0, None)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class ProgrammeCostResult(ResultMixin):
    """What the programme cost over the costing period, in the common price year.

    Attributes
    ----------
    lines:
        One row per cost line: ``category, item, source, price_year, value, basis, multiplier,
        inflation_factor, cost, low, high`` (``value``/``low``/``high`` in the figure's own prices).
    by_year:
        Cost by financial year and category (``financial_year, category, cost``).
    enrolled_years, n_enrolments:
        Enrolled person-years and enrolments within the costing period.
    start, end:
        The costing period (inclusive).
    price_year:
        Common price year of ``cost``.
    """

    lines: pd.DataFrame
    by_year: pd.DataFrame
    enrolled_years: float
    n_enrolments: int
    start: pd.Timestamp
    end: pd.Timestamp
    price_year: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(self.lines["cost"].sum())

    @property
    def per_enrolled_year(self) -> float:
        return self.total / self.enrolled_years if self.enrolled_years > 0 else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return self.lines.copy()

    def summary(self) -> Summary:
        cat = self.lines.groupby("category", sort=False)["cost"].sum().reset_index()
        return Summary(
            title="Programme costs",
            lines=(("Costing period", f"{self.start.date()} to {self.end.date()}"),
                   ("Price year", f"{self.price_year}/{str(self.price_year + 1)[-2:]}"),
                   ("Total cost", f"£{self.total:,.0f}"),
                   ("Enrolled person-years", f"{self.enrolled_years:,.1f}"),
                   ("Cost per enrolled person-year", f"£{self.per_enrolled_year:,.0f}")),
            tables=(("By category", cat), ("By financial year", self.by_year)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines.to_dict(orient="records"), "by_year": self.by_year.to_dict(orient="records"),
                "total": self.total, "enrolled_years": self.enrolled_years, "n_enrolments": self.n_enrolments,
                "per_enrolled_year": self.per_enrolled_year, "start": str(self.start.date()),
                "end": str(self.end.date()), "price_year": self.price_year}

    def plot(self):
        """Cost by financial year, stacked by category."""
        from plotnine import aes, geom_col, ggplot, labs, scale_fill_manual

        from evaltool.plotting import PALETTE, theme_evaltool

        d = self.by_year.assign(financial_year=lambda x: x["financial_year"].map(lambda y: f"{y}/{str(y + 1)[-2:]}"))
        return (ggplot(d, aes("financial_year", "cost", fill="category")) + geom_col()
                + scale_fill_manual(values=list(PALETTE)) + labs(x="Financial year", y="Cost (£)", fill="")
                + theme_evaltool())


_LABELS = {"staff": "Staff", "non_staff": "Non-staff running costs", "setup": "Set-up", "per_patient": "Per patient"}


def programme_costs(config: ProgrammeCostsConfig, *, price_year: int, inflation: InflationIndex | None,
                    start: pd.Timestamp | date, end: pd.Timestamp | date, person_time: pd.DataFrame,
                    discount_rate: float = 0.035) -> ProgrammeCostResult:
    """Cost every programme cost line over ``[start, end]`` in ``price_year`` prices.

    Parameters
    ----------
    config:
        The spec's ``economics.programme_costs``.
    price_year, inflation:
        Common price year and the index bringing each figure to it.
    start, end:
        The costing period (inclusive).
    person_time:
        From :func:`enrolled_person_time`: enrolled people's time on the caseload.
    discount_rate:
        Used to annuitise set-up costs (``setup_costs: annuitise``).

    Examples
    --------
    >>> from evaltool.economics.config import ProgrammeCostsConfig
    >>> cfg = ProgrammeCostsConfig(staff=[{"role": "Nurse", "wte": 2, "cost_per_wte_year": 50000,
    ...                                     "source": "ledger", "price_year": 2024}])
    >>> pt = pd.DataFrame({"person_id": ["a"], "index_date": [pd.Timestamp("2024-04-01")],
    ...     "entry": [pd.Timestamp("2024-04-01")], "exit": [pd.Timestamp("2025-04-01")], "years": [1.0]})
    >>> r = programme_costs(cfg, price_year=2024, inflation=None, start=pd.Timestamp("2024-04-01"),
    ...                     end=pd.Timestamp("2025-03-31"), person_time=pt)
    >>> round(r.total)
    99932
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    end_x = end + pd.Timedelta(days=1)
    if end_x <= start:
        raise SpecError(f"economics costing period: end ({end.date()}) must be after start ({start.date()})")
    fys = _fy_bounds(start, end_x)
    rows: list[dict[str, Any]] = []
    by_year: dict[tuple[int, str], float] = {}

    def add(category: str, item: Any, name: str, value: float, basis: str, shares: dict[int, float]) -> None:
        # `shares`: multiplier falling in each financial year; the line's multiplier is their sum.
        f = inflation_factor(item.price_year, price_year, inflation)
        mult = float(sum(shares.values()))
        rows.append({"category": _LABELS[category], "item": name, "source": item.source,
                     "price_year": int(item.price_year), "value": float(value), "basis": basis,
                     "multiplier": mult, "inflation_factor": f, "cost": float(value) * mult * f,
                     "low": item.low, "high": item.high, "kind": category})
        for fy, m in shares.items():
            key = (fy, _LABELS[category])
            by_year[key] = by_year.get(key, 0.0) + float(value) * m * f

    def running_shares(a: date | None, b: date | None) -> dict[int, float]:
        lo = max(start, pd.Timestamp(a)) if a else start
        hi = min(end_x, pd.Timestamp(b) + pd.Timedelta(days=1)) if b else end_x
        return {fy: _years(max(lo, s), min(hi, e)) for fy, s, e in fys if min(hi, e) > max(lo, s)}

    for s in config.staff:
        sh = running_shares(s.start, s.end)
        add("staff", s, s.role, s.cost_per_wte_year, f"{s.wte:g} WTE x cost per WTE-year",
            {k: v * s.wte for k, v in sh.items()})
    for n in config.non_staff:
        add("non_staff", n, n.item, n.annual_amount, "a year", running_shares(n.start, n.end))
    for su in config.setup:
        when = pd.Timestamp(su.date) if su.date else start
        if config.setup_costs == "in_full":
            sh = {financial_year(when): 1.0} if start <= when < end_x else {}
            add("setup", su, su.item, su.amount, "in full when incurred", sh)
        else:
            life_end = when + pd.Timedelta(days=round(su.useful_life_years * YEAR_DAYS))
            per_year = 1.0 / annuity_factor(su.useful_life_years, discount_rate)
            sh = {fy: per_year * _years(max(when, a), min(life_end, b))
                  for fy, a, b in fys if min(life_end, b) > max(when, a)}
            add("setup", su, su.item, su.amount,
                f"annuitised over {su.useful_life_years:g} years at {100 * discount_rate:g}%", sh)
    pt = person_time
    in_period = pt[(pt["index_date"] >= start) & (pt["index_date"] < end_x)]
    n_enrol = len(in_period)
    py_fy: dict[int, float] = {}
    for fy, a, b in fys:
        lo = pt["entry"].where(pt["entry"] > a, a)
        hi = pt["exit"].where(pt["exit"] < b, b)
        py_fy[fy] = float(np.clip((hi - lo).dt.days.to_numpy() / YEAR_DAYS, 0, None).sum())
    enrol_fy = in_period["index_date"].map(financial_year).value_counts().to_dict()
    for pp in config.per_patient:
        if pp.basis == "per_enrolment":
            add("per_patient", pp, pp.item, pp.amount, "per enrolment", {int(k): float(v) for k, v in enrol_fy.items()})
        else:
            add("per_patient", pp, pp.item, pp.amount, "per enrolled patient-year", py_fy)
    lines = pd.DataFrame(rows)
    by = pd.DataFrame([{"financial_year": k[0], "category": k[1], "cost": v} for k, v in sorted(by_year.items())])
    if by.empty:
        by = pd.DataFrame(columns=["financial_year", "category", "cost"])
    return ProgrammeCostResult(lines=lines, by_year=by, enrolled_years=float(sum(py_fy.values())),
                               n_enrolments=n_enrol, start=start, end=end, price_year=price_year,
                               info={"enrolled_years_by_fy": py_fy, "setup_costs": config.setup_costs,
                                     "discount_rate": discount_rate})
