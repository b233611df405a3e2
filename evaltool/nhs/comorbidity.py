"""Charlson and Elixhauser comorbidity and the Hospital Frailty Risk Score as of index dates.

Each score is a shipped code list (:mod:`evaltool.nhs.codelists`) of conditions with weights: a
person has a condition at an index date when a spell that *started before* that date, within the
look-back (Charlson and Elixhauser 1 year, HFRS 2 years by default), records one of its codes in
any diagnosis position. Where the published index has a hierarchy, the more severe condition
supersedes the milder (moderate/severe liver disease over mild; diabetes with complications over
without; metastatic over any tumour). The score is the sum of the weights of the conditions present.

Everything runs in the engine and is sparse: only people with a matching diagnosis produce rows;
everyone else scores 0.

Examples
--------
>>> import ibis, pandas as pd
>>> dx = ibis.memtable(pd.DataFrame({"spell_id": ["s1", "s1"], "person_id": ["a", "a"],
...     "date": pd.to_datetime(["2023-01-10"] * 2), "position": [1, 2], "code": ["I50", "E112"]}))
>>> at = ibis.memtable(pd.DataFrame({"person_id": ["a", "b"], "as_of": pd.to_datetime(["2023-06-01"] * 2)}))
>>> r = ibis.duckdb.connect().execute(scores_as_of(dx, at, "charlson").order_by("person_id"))
>>> r["score"].tolist()  # chf 1 + diabetes with complications 2
[3.0, 0.0]
"""
from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from evaltool.nhs.codelists import CodeList, get, match_spells

__all__ = ["SCORE_COVARIATES", "ScoreCovariates", "conditions_as_of", "score_conditions", "scores_as_of", "SCORES"]

#: The shipped score lists and their default look-back (days).
SCORES = ("charlson", "elixhauser", "hfrs")


def _list(cl: CodeList | str) -> CodeList:
    return get(cl) if isinstance(cl, str) else cl


def condition_events(diagnoses: Any, cl: CodeList | str) -> Any:
    """``(person_id, date, condition)`` for every spell recording a condition of ``cl``.

    ``diagnoses``: one row per spell and diagnosis with ``spell_id, person_id, date, position, code``.
    """
    cl = _list(cl)
    hits = match_spells(diagnoses, cl, first_episode=False)
    spells = diagnoses.select("spell_id", "person_id", "date").distinct()
    j = hits.inner_join(spells, "spell_id")
    return j.select("person_id", "date", "condition")


def conditions_as_of(diagnoses: Any, anchors: Any, cl: CodeList | str, *, lookback_days: int | None = None) -> Any:
    """``(person_id, as_of, condition)``: conditions recorded in the look-back before each anchor date.

    ``anchors``: ``person_id, as_of`` (one row per person and index date). A spell counts when it
    started on or after ``as_of - lookback_days`` and before ``as_of``.
    """
    cl = _list(cl)
    days = int(lookback_days if lookback_days is not None else (cl.lookback_days or 365))
    ev = condition_events(diagnoses, cl)
    a = anchors.select("person_id", "as_of")
    j = ev.inner_join(a, "person_id")
    gap = j.as_of.cast("date").delta(j.date.cast("date"), unit="day")
    j = j.filter((gap > 0) & (gap <= days))
    return j.select("person_id", "as_of", "condition").distinct()


def score_conditions(conds: Any, cl: CodeList | str, keys: list[str], *, scheme: str | None = None) -> Any:
    """Score per ``keys`` from a long table of conditions present (``keys`` + ``condition``):
    hierarchy applied, then the scheme's weights summed (as DECIMAL, so engines agree)."""
    cl = _list(cl)
    w = cl.scheme_weights(scheme)
    c = conds.select(*keys, "condition").distinct()
    if cl.hierarchy:
        h = ibis.memtable(pd.DataFrame(list(cl.hierarchy), columns=["_sup", "_sub"]))
        sub = c.inner_join(h, c.condition == h._sub)
        sup = c.select(*keys, _sup="condition")
        drop = sub.semi_join(sup, [*keys, "_sup"]).select(*keys, condition="_sub")
        c = c.anti_join(drop, [*keys, "condition"])
    wt = ibis.memtable(pd.DataFrame({"condition": list(w), "_w": [str(v) for v in w.values()]}))
    wt = wt.mutate(_w=wt._w.cast("decimal(9, 2)"))
    j = c.inner_join(wt, "condition")
    return j.group_by(keys).aggregate(score=j._w.sum().cast("decimal(12, 2)").cast("float64"),
                                      n_conditions=j.count().cast("int64"))


def scores_as_of(diagnoses: Any, anchors: Any, cl: CodeList | str, *, scheme: str | None = None,
                 lookback_days: int | None = None) -> Any:
    """One row per anchor (``person_id, as_of``) with ``score`` and ``n_conditions`` (0 when none).

    Parameters
    ----------
    diagnoses:
        Ibis table, one row per spell and diagnosis: ``spell_id, person_id, date, position, code``
        (``code`` normalised by :func:`evaltool.nhs.codes.icd10_expr`).
    anchors:
        Ibis table ``person_id, as_of``: the index dates.
    cl:
        ``"charlson"``, ``"elixhauser"``, ``"hfrs"`` or a score :class:`CodeList`.
    scheme:
        Weighting scheme (Charlson: ``charlson_1987`` default or ``quan_2011``).
    lookback_days:
        Days before the index date (default the list's: 365, HFRS 730).
    """
    cl = _list(cl)
    conds = conditions_as_of(diagnoses, anchors, cl, lookback_days=lookback_days)
    s = score_conditions(conds, cl, ["person_id", "as_of"], scheme=scheme)
    a = anchors.select("person_id", "as_of")
    out = a.left_join(s, ["person_id", "as_of"])
    out = out.select("person_id", "as_of", score=out.score.fill_null(0.0),
                     n_conditions=out.n_conditions.fill_null(0).cast("int64"))
    return out


#: Matching covariates computed from prior diagnoses: name -> (score list, weighting scheme).
SCORE_COVARIATES: dict[str, tuple[str, str | None]] = {
    "charlson": ("charlson", None), "charlson_quan": ("charlson", "quan_2011"),
    "elixhauser": ("elixhauser", None), "hfrs": ("hfrs", None),
}


class ScoreCovariates:
    """Comorbidity scores as time-varying matching covariates (spec ``matching.covariates``: ``charlson``,
    ``charlson_quan``, ``elixhauser``, ``hfrs``), each as of the start of the risk set's month.

    Risk-set matching (:func:`evaltool.matching.riskset.risk_set_match`, ``period_covariates=``) asks
    for the scores of a risk set's people as of its first day; only people with a scoring diagnosis in
    the look-back come back (everyone else scores 0), computed in the engine from the spells' diagnoses.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> dx = ibis.memtable(pd.DataFrame({"spell_id": ["s1", "s1"], "person_id": ["a", "a"],
    ...     "date": pd.to_datetime(["2023-01-10"] * 2), "position": [1, 2], "code": ["I50", "E112"]}))
    >>> ScoreCovariates(dx, ["charlson"]).at(pd.Timestamp("2023-06-01")).to_dict("records")
    [{'person_id': 'a', 'charlson': 3.0}]
    """

    def __init__(self, diagnoses: Any, names: list[str] | tuple[str, ...]):
        bad = [n for n in names if n not in SCORE_COVARIATES]
        if bad:
            raise ValueError(f"unknown comorbidity covariate(s) {bad}; choose from {sorted(SCORE_COVARIATES)}")
        self.names = tuple(names)
        self._dx = diagnoses

    def at(self, as_of: pd.Timestamp, person_ids: Any = None) -> pd.DataFrame:
        """``person_id`` and one column per score, for people scoring (any condition) as of ``as_of``."""
        dx = self._dx
        people = dx.select("person_id").distinct()
        if person_ids is not None:
            ids = ibis.memtable(pd.DataFrame({"person_id": pd.Series(list(person_ids), dtype=object).astype(str)}))
            people = people.semi_join(ids, "person_id")
        anchors = people.mutate(as_of=ibis.literal(pd.Timestamp(as_of).date()))
        out: pd.DataFrame | None = None
        for name in self.names:
            lst, scheme = SCORE_COVARIATES[name]
            s = scores_as_of(dx, anchors, lst, scheme=scheme)
            r = s.filter(s.n_conditions > 0).select("person_id", score="score").execute()
            r = r.rename(columns={"score": name})
            out = r if out is None else out.merge(r, on="person_id", how="outer")
        assert out is not None
        return out.fillna(0.0).sort_values("person_id", kind="stable").reset_index(drop=True)
