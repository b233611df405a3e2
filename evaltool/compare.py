"""Several models side by side: :func:`etable` (as pyfixest's ``etable``, statsmodels' ``summary_col``).

Any result with ``params``/``bse``/``pvalues``/``conf_int()``/``nobs`` can be compared: TWFE,
Callaway & Sant'Anna (group-time or aggregated), the imputation estimator, matched-cohort DiD,
2x2 regression DiD, or anything of yours with those attributes.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from evaltool.effects import twfe
>>> rng = np.random.default_rng(0)
>>> d = pd.DataFrame({"u": np.repeat(np.arange(40), 6), "t": np.tile(np.arange(6), 40)})
>>> d["D"] = ((d.u < 20) & (d.t >= 3)).astype(int)
>>> d["y"] = 0.1 * d.u + 0.2 * d.t + 1.0 * d.D + rng.normal(0, 0.5, len(d))
>>> tab = etable(twfe(d, "y", "u", "t", "D"), twfe(d.assign(y=d.y * 2), "y", "u", "t", "D"),
...              names=["y", "2y"])
>>> tab.to_frame()[["model", "term", "estimate"]].round(2)
  model term  estimate
0     y    D      0.97
1    2y    D      1.93
>>> print(tab.table().to_string())
                     y        2y
D             0.966***  1.933***
               (0.124)   (0.248)
Observations       240       240
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import SpecError

__all__ = ["ComparisonTable", "etable"]

_NEEDED = ("params", "bse", "pvalues", "conf_int", "nobs")


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


@dataclass(frozen=True, repr=False)
class ComparisonTable(ResultMixin):
    """Coefficients of several models in one table (immutable). Build with :func:`etable`."""

    coefficients: pd.DataFrame  # model, term, estimate, std_error, ci_lower, ci_upper, p_value
    nobs: dict[str, int]
    digits: int = 3

    def to_frame(self) -> pd.DataFrame:
        """Tidy: one row per model and term."""
        return self.coefficients.copy()

    def table(self) -> pd.DataFrame:
        """The side-by-side display: estimate with stars, standard error in brackets beneath, N last.

        Stars: * p < 0.05, ** p < 0.01, *** p < 0.001.
        """
        c = self.coefficients
        models = list(self.nobs)
        terms = list(dict.fromkeys(c["term"]))
        rows: list[list[str]] = []
        index: list[str] = []
        for term in terms:
            est, se = [], []
            for m in models:
                r = c[(c["model"] == m) & (c["term"] == term)]
                if r.empty:
                    est.append("")
                    se.append("")
                    continue
                r = r.iloc[0]
                est.append(f"{r.estimate:.{self.digits}f}{_stars(r.p_value)}")
                se.append(f"({r.std_error:.{self.digits}f})" if np.isfinite(r.std_error) else "")
            rows += [est, se]
            index += [str(term), ""]
        rows.append([f"{self.nobs[m]:,}" for m in models])
        index.append("Observations")
        return pd.DataFrame(rows, index=index, columns=models)

    def summary(self) -> Summary:
        return Summary(title="Models compared", lines=(
            ("models", ", ".join(self.nobs)),
            ("cells", "estimate (standard error); * p < 0.05, ** p < 0.01, *** p < 0.001"),
        ), tables=(("coefficients", self.table().reset_index(names="term")),))

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.nobs), "nobs": dict(self.nobs),
                "coefficients": self.coefficients.to_dict(orient="records")}

    def to_markdown(self) -> str:
        """The side-by-side table in Markdown (for a report or a README)."""
        t = self.table()
        head = "| | " + " | ".join(t.columns) + " |\n|---|" + "---|" * len(t.columns) + "\n"
        body = "".join(f"| {i} | " + " | ".join(str(v).replace("*", "\\*") for v in row) + " |\n"
                       for i, row in zip(t.index, t.to_numpy()))
        return head + body

    def plot(self) -> Any:
        """Coefficients with their intervals, one colour per model."""
        from plotnine import (aes, coord_flip, geom_hline, geom_pointrange, ggplot, labs, position_dodge,
                              scale_colour_manual)

        from evaltool.plotting import PALETTE, theme_evaltool

        d = self.coefficients.assign(term=lambda x: x["term"].astype(str))
        return (ggplot(d, aes("term", "estimate", ymin="ci_lower", ymax="ci_upper", colour="model"))
                + geom_hline(yintercept=0, linetype="dashed") + geom_pointrange(position=position_dodge(width=0.5))
                + coord_flip() + scale_colour_manual(values=list(PALETTE) * 4)
                + labs(x="", y="Estimate (95% CI)", colour="") + theme_evaltool())


def etable(*results: Any, names: Sequence[str] | None = None, digits: int = 3) -> ComparisonTable:
    """Compare the coefficients of several fitted results side by side.

    Parameters
    ----------
    *results
        Results with ``params``, ``bse``, ``pvalues``, ``conf_int()`` and ``nobs`` (every
        regression-like evaltool result has them).
    names : list of str, optional
        Column headings (default ``(1)``, ``(2)``, ...).
    digits : int
        Decimals shown in :meth:`ComparisonTable.table`.

    Returns
    -------
    ComparisonTable
    """
    if not results:
        raise SpecError("etable: give at least one result")
    if names is None:
        names = [f"({i})" for i in range(1, len(results) + 1)]
    names = [str(n) for n in names]
    if len(names) != len(results) or len(set(names)) != len(names):
        raise SpecError(f"`names`: expected {len(results)} distinct names, got {names}")
    parts = []
    nobs: dict[str, int] = {}
    for name, res in zip(names, results):
        missing = [a for a in _NEEDED if not hasattr(res, a)]
        if missing:
            raise SpecError(f"etable: {type(res).__name__} ({name}) has no {', '.join(missing)}; "
                            "compare regression-like results (TWFE, att_gt, imputation, matched_did, did_2x2)")
        ci = res.conf_int()
        parts.append(pd.DataFrame({
            "model": name, "term": list(res.params.index), "estimate": res.params.to_numpy(float),
            "std_error": res.bse.to_numpy(float), "ci_lower": ci[0].to_numpy(float),
            "ci_upper": ci[1].to_numpy(float), "p_value": res.pvalues.to_numpy(float)}))
        nobs[name] = int(res.nobs)
    return ComparisonTable(pd.concat(parts, ignore_index=True), nobs, digits)
