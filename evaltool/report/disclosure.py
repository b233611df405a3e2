"""Per-table disclosure control (the primitive behind the old report layer).

The report publishes through :mod:`evaltool.report.publish`, which controls every table, figure and fact
together and proves its secondary suppression by attack; :func:`apply_disclosure` remains for
controlling one table on its own (and for comparing with what the report did before the gate).

The default is the NHS Digital Hospital Episode Statistics (HES) convention for
sub-national counts: 0 stays 0, counts from 1 to 7 are shown as ``*``, every other
count is rounded to the nearest 5; rates and percentages derived from a hidden count
are hidden too, and percentages of a column total are recalculated from the rounded
counts. Secondary suppression then hides the next smallest count wherever a single
hidden cell could be recovered by subtraction from a total. The Friends and Family
Test rule (``rule="fft"``) hides 1-4 responses, does not round, and applies the same
secondary suppression.

Disclosure control applies to counts (``TableMeta.count_columns``) and the columns
derived from them, never to model estimates or confidence intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from evaltool._result import ResultMixin, Summary
from evaltool.errors import ReportError

__all__ = ["DisclosureConfig", "DisclosureResult", "apply_disclosure", "disclosure_note", "round_count"]

SUPPRESSED = "*"


class DisclosureConfig(BaseModel):
    """Settings for disclosure control (``manifest.report.disclosure``).

    Attributes
    ----------
    enabled:
        Apply disclosure control (on by default; turn off only for internal analyst copies).
    rule:
        ``"hes"`` (1 to ``min_count - 1`` hidden, others rounded) or ``"fft"`` (Friends and
        Family Test: 1-4 hidden, no rounding).
    min_count:
        Smallest count shown; counts from 1 to ``min_count - 1`` are hidden. Default 8 (HES).
    round_to:
        Shown counts are rounded to the nearest multiple of this (1 = no rounding).
    secondary:
        Hide the next smallest count when a single hidden count could be recovered from a total.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    rule: Literal["hes", "fft"] = "hes"
    min_count: int = Field(8, ge=1)
    round_to: int = Field(5, ge=1)
    secondary: bool = True

    @classmethod
    def fft(cls) -> DisclosureConfig:
        """The Friends and Family Test rule: hide 1-4 responses, no rounding, secondary suppression."""
        return cls(rule="fft", min_count=5, round_to=1, secondary=True)


def round_count(n: float, config: DisclosureConfig | None = None) -> str:
    """Format one count for publication under ``config`` (for counts quoted in sentences).

    Examples
    --------
    >>> round_count(1234), round_count(5), round_count(0)
    ('1,235', '*', '0')
    """
    cfg = config or DisclosureConfig()
    if not cfg.enabled:
        return f"{int(round(n)):,}"
    if n == 0:
        return "0"
    if 0 < n < cfg.min_count:
        return SUPPRESSED
    return f"{int(_round_half_up(np.asarray([n], float), cfg.round_to)[0]):,}"


def _round_half_up(x: np.ndarray, base: int) -> np.ndarray:
    # Python's round() is banker's rounding; the HES convention rounds halves up (12.5 -> 15).
    return np.floor(x / base + 0.5) * base


@dataclass(frozen=True)
class DisclosureResult(ResultMixin):
    """A table after disclosure control.

    Attributes
    ----------
    table:
        The published table: count and derived columns hold numbers or ``"*"``.
    hidden:
        Boolean frame (same shape as ``table``): True where a cell is shown as ``"*"``.
    n_primary, n_secondary:
        Counts hidden because they were small, and hidden to protect them.
    config:
        The settings applied.
    """

    table: pd.DataFrame
    hidden: pd.DataFrame
    n_primary: int
    n_secondary: int
    config: DisclosureConfig
    count_columns: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        return Summary(
            title="Disclosure control",
            lines=(
                ("rule", self.config.rule),
                ("enabled", str(self.config.enabled)),
                ("counts hidden (small)", str(self.n_primary)),
                ("counts hidden (secondary)", str(self.n_secondary)),
            ),
            tables=(("published table", self.table),),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(),
            "n_primary": self.n_primary,
            "n_secondary": self.n_secondary,
            "columns": list(self.table.columns),
            "hidden_cells": int(self.hidden.to_numpy().sum()),
        }

    def plot(self):
        """A tile map of which cells are hidden (for checking a table by eye)."""
        from plotnine import aes, geom_tile, ggplot, labs, scale_fill_manual

        from evaltool.plotting import NHS_ORANGE, NHS_PALE_GREY, theme_evaltool

        long = self.hidden.reset_index(drop=True).reset_index().melt(id_vars="index", var_name="column")
        long["hidden"] = long["value"].map({True: "hidden", False: "shown"})
        return (
            ggplot(long, aes("column", "index", fill="hidden"))
            + geom_tile(color="white")
            + scale_fill_manual(values={"hidden": NHS_ORANGE, "shown": NHS_PALE_GREY})
            + labs(x="", y="row", fill="")
            + theme_evaltool()
        )


def _groups(df: pd.DataFrame, group_by: tuple[str, ...]) -> list[np.ndarray]:
    if not group_by:
        return [np.arange(len(df))]
    return [np.asarray(ix) for ix in df.reset_index(drop=True).groupby(list(group_by), sort=False, dropna=False).indices.values()]


def _secondary(vals: np.ndarray, hidden: np.ndarray, groups: list[np.ndarray], rows: bool) -> np.ndarray:
    """Hide the next smallest non-zero count wherever exactly one count in a line is hidden.

    A "line" is a column within a group (its total can be published) and, with ``rows``,
    a row across the count columns. Repeats until nothing changes, because hiding a cell
    to protect a column can leave a row with a single hidden cell.
    """
    hidden = hidden.copy()
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    for g in groups:
        for j in range(vals.shape[1]):
            lines.append((g, np.full(len(g), j)))
    if rows and vals.shape[1] > 1:
        for i in range(vals.shape[0]):
            lines.append((np.full(vals.shape[1], i), np.arange(vals.shape[1])))
    changed = True
    while changed:
        changed = False
        for r, c in lines:
            if len(r) < 2:
                continue
            h = hidden[r, c]
            if h.sum() != 1:
                continue
            v = vals[r, c]
            # Zeros stay visible (a "*" means 1 or more), so protect with the smallest non-zero count.
            cand = np.where(~h & np.isfinite(v) & (v > 0), v, np.inf)
            if np.isfinite(cand).any():
                k = int(np.argmin(cand))
                hidden[r[k], c[k]] = True
                changed = True
    return hidden


def apply_disclosure(
    table: pd.DataFrame,
    count_columns: tuple[str, ...] | list[str] = (),
    derived_columns: tuple[tuple[str, str], ...] | list[list[str]] = (),
    config: DisclosureConfig | None = None,
    *,
    group_by: tuple[str, ...] = (),
    additive_rows: bool = False,
) -> DisclosureResult:
    """Apply disclosure control to an aggregate table (never mutates ``table``).

    Parameters
    ----------
    table : DataFrame
        An aggregate results table.
    count_columns : sequence of str
        Columns of counts of people or events.
    derived_columns : sequence of (derived, count) pairs
        Rates/percentages and the count each derives from: hidden when the count is hidden (a
        statistic listed with several counts is hidden when any of them is).
        A derived column equal to the count's percentage (or proportion) of its column total
        is recalculated from the rounded counts.
    config : DisclosureConfig, optional
        Defaults to the HES convention (min_count 8, round to 5, secondary suppression).
    group_by : tuple of str
        Columns defining the groups whose totals may be published (secondary suppression
        works within each group); default: the whole table is one group.
    additive_rows : bool
        The count columns of a row add up to a published row total, so protect rows too.

    Returns
    -------
    DisclosureResult

    Examples
    --------
    >>> t = pd.DataFrame({"site": ["A", "B", "C"], "n": [3, 40, 52]})
    >>> apply_disclosure(t, ["n"]).table["n"].tolist()
    ['*', '*', 50]
    """
    cfg = config or DisclosureConfig()
    out = table.copy()
    count_columns = tuple(count_columns)
    pairs = [tuple(p) for p in derived_columns]
    missing = [c for c in count_columns + tuple(d for d, _ in pairs) + tuple(c for _, c in pairs) + tuple(group_by)
               if c not in table.columns]
    if missing:
        raise ReportError(
            f"`count_columns`/`derived_columns`/`group_by` name columns {sorted(set(missing))} that the table "
            f"does not have; its columns are {list(table.columns)}"
        )
    hidden_frame = pd.DataFrame(False, index=out.index, columns=out.columns)
    if not cfg.enabled or not count_columns:
        return DisclosureResult(out, hidden_frame, 0, 0, cfg, count_columns)
    try:
        vals = table[list(count_columns)].apply(pd.to_numeric, errors="raise").to_numpy(float)
    except (ValueError, TypeError) as err:
        raise ReportError(f"count columns {list(count_columns)} must be numeric: {err}") from err
    primary = np.isfinite(vals) & (vals > 0) & (vals < cfg.min_count)
    hidden = primary
    if cfg.secondary:
        hidden = _secondary(vals, primary, _groups(table, tuple(group_by)), additive_rows)
    rounded = np.where(np.isfinite(vals), _round_half_up(np.nan_to_num(vals), cfg.round_to), np.nan)
    for j, c in enumerate(count_columns):
        col = pd.Series(rounded[:, j], index=out.index, dtype=float)
        shown: list[Any] = [SUPPRESSED if h else (int(v) if np.isfinite(v) else None)
                            for v, h in zip(col.to_numpy(), hidden[:, j])]
        out[c] = pd.Series(shown, index=out.index, dtype=object)
        hidden_frame[c] = hidden[:, j]
    groups = _groups(table, tuple(group_by))
    derived_hidden: dict[str, np.ndarray] = {}  # a column derived from several counts hides with any of them
    for d, c in pairs:
        if c not in count_columns:
            raise ReportError(f"`derived_columns` pair ({d!r}, {c!r}): {c!r} is not one of `count_columns` {list(count_columns)}")
        j = count_columns.index(c)
        dv = pd.to_numeric(table[d], errors="coerce").to_numpy(float)
        new = dv.copy()
        # Percentages of a column total are recalculated from the rounded parts, so the published
        # percentage cannot be combined with the rounded count to recover the exact count.
        for g in groups:
            raw_tot = np.nansum(vals[g, j])
            if raw_tot <= 0:
                continue
            share = vals[g, j] / raw_tot
            rtot = np.nansum(rounded[g, j])
            for scale, tol in ((100.0, 0.051), (1.0, 5.1e-4)):
                if np.allclose(dv[g], share * scale, atol=tol, equal_nan=True):
                    new[g] = rounded[g, j] / rtot * scale if rtot > 0 else np.nan
                    break
        mask = hidden[:, j] | derived_hidden.get(d, np.zeros(len(new), dtype=bool))
        derived_hidden[d] = mask
        shown = [SUPPRESSED if h else (None if not np.isfinite(v) else float(v)) for v, h in zip(new, mask)]
        out[d] = pd.Series(shown, index=out.index, dtype=object)
        hidden_frame[d] = mask
    n_primary = int(primary.sum())
    return DisclosureResult(out, hidden_frame, n_primary, int(hidden.sum()) - n_primary, cfg, count_columns)


def disclosure_note(config: DisclosureConfig, n_hidden: int = 0) -> str:
    """Plain-English note saying what disclosure control was applied (for the report).

    Examples
    --------
    >>> disclosure_note(DisclosureConfig())[:44]
    'To protect confidentiality, counts of 1 to 7'
    """
    if not config.enabled:
        return ("Disclosure control was switched off for this report: it shows unrounded counts and must "
                "not be published.")
    lo, hi = 1, config.min_count - 1
    parts = [f"To protect confidentiality, counts of {lo} to {hi} are shown as *"]
    if config.round_to > 1:
        parts.append(f"other counts are rounded to the nearest {config.round_to} (0 is shown as 0)")
    text = "; ".join(parts) + "."
    text += " Rates and percentages based on a hidden count are hidden too"
    text += ", and percentages of a total are worked out from the rounded counts." if config.round_to > 1 else "."
    if config.secondary:
        text += (" Where a hidden count could be worked out from a total, the next smallest count is hidden"
                 " as well.")
    rule = ("the NHS Digital convention for Hospital Episode Statistics" if config.rule == "hes"
            else "the Friends and Family Test publication rule")
    text += f" This follows {rule}. Model estimates and confidence intervals are not rounded."
    if n_hidden:
        text += f" In this report {n_hidden} table cell{'s' if n_hidden != 1 else ''} {'are' if n_hidden != 1 else 'is'} hidden."
    return text
