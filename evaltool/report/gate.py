"""The report's one door to published values.

Every number the report prints comes from here: ``published(bundle)`` returns an object with
``table(name)`` (``.display`` to print, ``.values`` as numbers with NaN where suppressed,
``.hidden``), ``fact(section, key)`` (``.value``, ``.text``, ``.hidden``) and ``statement()``.
This is the interface of the publication gate (``evaltool.report.publish``, issue 11); until that
gate is on main this module provides the same interface over the HES-rule disclosure control of
:mod:`evaltool.report.disclosure`. Sections never read ``bundle.tables`` or ``bundle.facts``
for anything they print.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaltool.report.bundle_io import Bundle
from evaltool.report.disclosure import (
    DisclosureConfig,
    apply_disclosure,
    disclosure_note,
    round_count,
)

__all__ = ["Fact", "PublishedTable", "published"]


@dataclass(frozen=True)
class PublishedTable:
    name: str
    section: str
    title: str
    caption: str
    appendix: bool
    publish: bool
    display: pd.DataFrame
    values: pd.DataFrame
    hidden: pd.DataFrame

    @property
    def n_hidden(self) -> int:
        return int(self.hidden.to_numpy().sum())


@dataclass(frozen=True)
class Fact:
    value: Any
    hidden: bool
    text: str
    kind: str


_COUNT_FACT = re.compile(r"(^|[._])(n|rows)(_|$)|(^|_)n_[a-z]")
_NOT_PEOPLE = ("n_coders", "n_roles", "n_sites", "n_practices", "n_clusters", "n_quotes", "n_periods", "n_cohorts",
               "n_treated_practices", "n_never_treated_practices", "n_documents", "n_double_coded_documents",
               "n_joint_display_rows", "n_quotes_small_group", "bootstrap_reps", "n_segments")


@dataclass
class _Interim:
    bundle: Bundle
    config: DisclosureConfig
    tables: dict[str, PublishedTable] = field(default_factory=dict)
    n_primary: int = 0
    n_secondary: int = 0
    fft_used: bool = False

    def table(self, name: str) -> PublishedTable | None:
        if name in self.tables:
            return self.tables[name]
        t = self.bundle.tables.get(name)
        if t is None:
            return None
        cfg = self.config
        low = name.lower()
        if cfg.enabled and ("fft" in low.split("_") or "friends_and_family" in low):
            cfg = DisclosureConfig.fft()
            self.fft_used = True
        res = apply_disclosure(t.data, t.count_columns, t.derived_columns, cfg, additive_rows=cfg.rule == "fft")
        self.n_primary += res.n_primary
        self.n_secondary += res.n_secondary
        values = res.table.apply(lambda s: pd.to_numeric(s, errors="coerce"))
        pt = PublishedTable(name, t.section, t.title, t.caption, t.appendix, t.publish, res.table, values, res.hidden)
        self.tables[name] = pt
        return pt

    def fact(self, section: str, key: str) -> Fact | None:
        sec = self.bundle.facts.get(section)
        if not isinstance(sec, dict) or key not in sec:
            return None
        v = sec[key]
        last = key.split(".")[-1]
        if last in ("headline_text", "key_points"):
            return Fact(None, True, "", "withheld")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and _COUNT_FACT.search(last) \
                and not any(last == k for k in _NOT_PEOPLE) and float(v) == int(v):
            txt = round_count(float(v), self.config)
            if txt == "*":
                return Fact(None, True, f"fewer than {self.config.min_count}", "count")
            return Fact(int(txt.replace(",", "")), False, txt, "count")
        if isinstance(v, float) and not math.isfinite(v):
            return Fact(None, True, "not available", "estimate")
        return Fact(v, False, str(v), "estimate" if isinstance(v, (int, float)) else "text")

    def statement(self) -> str:
        text = disclosure_note(self.config, self.n_primary + self.n_secondary)
        if self.fft_used:
            text += (" Friends and Family Test tables follow that survey's own rule: 1 to 4 responses are hidden, "
                     "with the next smallest in the group hidden as well, and counts are not rounded.")
        return text

    @property
    def min_count(self) -> int:
        return self.config.min_count


def published(bundle: Bundle) -> Any:
    """The published view of a bundle (see the module docstring).

    Examples
    --------
    >>> from evaltool.report.bundle_io import load_bundle
    >>> pub = published(load_bundle("tests/fixtures/bundle"))  # doctest: +SKIP
    >>> pub.table("cohort_flow").display  # doctest: +SKIP
    """
    try:  # the publication gate of issue 11, once it is part of evaltool
        from evaltool.report.publish import publish
    except ImportError:
        raw = ((bundle.manifest.get("report") or {}).get("disclosure") or {})
        cfg = DisclosureConfig(**{k: v for k, v in raw.items() if k in DisclosureConfig.model_fields})
        return _Interim(bundle, cfg)
    return publish(bundle)


def number(x: Any) -> float:
    """A published cell as a float (NaN when suppressed or not numeric)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if np.isfinite(v) else float("nan")
