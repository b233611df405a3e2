"""The result-object contract shared by every stage.

Every result object is immutable and offers:

* ``.summary()`` returning a :class:`Summary` (never prints),
* ``.to_frame()`` returning a tidy DataFrame with snake_case columns
  (estimates use ``estimate, std_error, ci_lower, ci_upper, p_value``),
* ``.plot()`` returning a plotnine ``ggplot``,
* ``.to_dict()`` returning JSON-serialisable content for the results bundle.

Results never carry patient-level rows in ``to_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

ESTIMATE_COLUMNS = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")


@dataclass(frozen=True)
class Summary:
    """A printable summary: a title, some key: value lines and tables.

    It renders as text (``str``), HTML (``_repr_html_``) and Markdown.
    """

    title: str
    lines: tuple[tuple[str, str], ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = field(default=())

    def as_text(self) -> str:
        out = [self.title, "=" * len(self.title)]
        width = max((len(k) for k, _ in self.lines), default=0)
        out += [f"{k:<{width}}  {v}" for k, v in self.lines]
        for name, tab in self.tables:
            out += ["", name, "-" * len(name), tab.to_string(index=False)]
        return "\n".join(out)

    def as_markdown(self) -> str:
        out = [f"**{self.title}**", ""]
        out += [f"- {k}: {v}" for k, v in self.lines]
        for name, tab in self.tables:
            out += ["", f"*{name}*", "", tab.to_markdown(index=False) if _has_tabulate() else tab.to_string(index=False)]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        import html

        parts = [f"<h4>{html.escape(self.title)}</h4>", "<table>"]
        parts += [
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.lines
        ]
        parts.append("</table>")
        for name, tab in self.tables:
            parts.append(f"<h5>{html.escape(name)}</h5>")
            parts.append(tab.to_html(index=False, escape=True))
        return "\n".join(parts)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


class ResultMixin:
    """Default ``_repr_html_``/``__repr__`` for result objects built on :class:`Summary`."""

    def summary(self) -> Summary:  # pragma: no cover - overridden
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        return self.summary().as_text()


def check_result_contract(result: Any) -> None:
    """Raise ``AssertionError`` if ``result`` breaks the result contract.

    Used by the test suite over every result class.
    """
    import json

    s = result.summary()
    if not isinstance(s, Summary):
        raise AssertionError(f"{type(result).__name__}.summary() must return Summary, got {type(s)}")
    frame = result.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise AssertionError(f"{type(result).__name__}.to_frame() must return a DataFrame")
    bad = [c for c in frame.columns if not (str(c) == str(c).lower() and " " not in str(c))]
    if bad:
        raise AssertionError(f"{type(result).__name__}.to_frame() has non-snake_case columns {bad}")
    d = result.to_dict()
    json.dumps(d, default=str)
    from plotnine import ggplot

    p = result.plot()
    if not isinstance(p, ggplot):
        raise AssertionError(f"{type(result).__name__}.plot() must return a plotnine ggplot")
