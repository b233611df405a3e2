"""A small, safe formula parser: ``"treat ~ age + sex + prior_admissions"``.

Formulas name columns; they never run code. The grammar is deliberately tiny:

    formula  := [response] "~" terms
    terms    := term ("+" term)*
    term     := name | "`" any text but backquote "`" | "1" | "0" | "-1"

``1`` (an intercept, always included) is accepted and ignored; ``0``/``-1`` are refused, since every
model here needs its intercept. Anything else (function calls, ``*``, ``:``, ``**``, ``I(...)``,
arithmetic) is an error that points at the character, so a spec or notebook string can never reach
``eval`` or a general formula engine. Names must be columns of the data.

Examples
--------
>>> parse_formula("treat ~ age + sex + prior_admissions")
Formula(response='treat', terms=('age', 'sex', 'prior_admissions'))
>>> parse_formula("~ lpop").terms
('lpop',)
>>> parse_formula("y ~ `risk score` + 1").terms
('risk score',)
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from evaltool.errors import SpecError

__all__ = ["Formula", "parse_formula"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the response column (or ``None``) and the covariate columns, in order."""

    response: str | None
    terms: tuple[str, ...]

    def check_columns(self, columns: Iterable[str], what: str = "data") -> Formula:
        """Raise :class:`~evaltool.errors.SpecError` naming any term that is not a column."""
        cols = list(columns)
        missing = [n for n in ([self.response] if self.response else []) + list(self.terms) if n not in cols]
        if missing:
            import difflib

            hints = [f"{m!r}" + (f" (did you mean {c[0]!r}?)" if (c := difflib.get_close_matches(m, cols, 1)) else "")
                     for m in missing]
            raise SpecError(f"formula names column(s) not in the {what}: {', '.join(hints)}")
        return self


def _error(text: str, pos: int, why: str) -> SpecError:
    return SpecError(f"formula {text!r}: {why} at character {pos + 1}\n  {text}\n  {' ' * pos}^\n"
                     "formulas here are column names joined by '+' (with an optional 'response ~'); "
                     "transform columns in the data first")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "~+":
            out.append((ch, ch, i))
            i += 1
        elif ch == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise _error(text, i, "unclosed backquote")
            if j == i + 1:
                raise _error(text, i, "empty column name")
            out.append(("name", text[i + 1:j], i))
            i = j + 1
        elif (ch == "-" and text[i + 1:].lstrip().startswith("1")) or ch == "0":
            raise _error(text, i, "removing the intercept is not supported")
        elif ch == "1" and not _NAME.match(text, i):
            out.append(("one", "1", i))
            i += 1
        elif (m := _NAME.match(text, i)) is not None:
            out.append(("name", m.group(), i))
            i = m.end()
        else:
            raise _error(text, i, f"unexpected {ch!r}")
    return out


def parse_formula(text: str, *, columns: Iterable[str] | None = None, response: bool | None = None) -> Formula:
    """Parse ``text``; with ``columns``, check every name is one of them.

    Parameters
    ----------
    text : str
        ``"y ~ a + b"`` or ``"~ a + b"``.
    columns : iterable of str, optional
        The data's columns: names not among them are an error (with a did-you-mean).
    response : bool, optional
        ``True``: a response is required; ``False``: refused (covariate formulas such as R did's
        ``xformla``); ``None``: either.
    """
    if not isinstance(text, str):
        raise SpecError(f"formula: expected a string such as 'treat ~ age + sex', got {type(text).__name__}")
    toks = _tokens(text)
    tildes = [t for t in toks if t[0] == "~"]
    if len(tildes) != 1:
        raise _error(text, tildes[1][2] if len(tildes) > 1 else len(text), "expected exactly one '~'")
    k = toks.index(tildes[0])
    lhs, rhs = toks[:k], toks[k + 1:]
    if len(lhs) > 1 or (lhs and lhs[0][0] != "name"):
        raise _error(text, lhs[-1][2] if lhs else 0, "the response must be one column name")
    resp = lhs[0][1] if lhs else None
    if response is True and resp is None:
        raise _error(text, 0, "a response column is needed before '~'")
    if response is False and resp is not None:
        raise _error(text, 0, "no response is expected here (write '~ a + b')")
    terms: list[str] = []
    expect_term = True
    for kind, value, pos in rhs:
        if expect_term:
            if kind not in ("name", "one"):
                raise _error(text, pos, "expected a column name")
            if kind == "name" and value not in terms:
                terms.append(value)
        elif kind != "+":
            raise _error(text, pos, "expected '+'")
        expect_term = not expect_term
    if expect_term:
        raise _error(text, len(text), "expected a column name after '+'" if rhs else "no terms after '~'")
    f = Formula(resp, tuple(terms))
    return f.check_columns(columns) if columns is not None else f


def formula_call(data, treatment, covariates, *, what: str = "match") -> tuple:
    """Accept ``f(data, treatment, covariates)`` or ``f("treat ~ a + b", data)``; return the first form.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"treat": [0, 1], "age": [70, 80], "sex": ["F", "M"]})
    >>> formula_call("treat ~ age + sex", df, None)[1:]
    ('treat', ['age', 'sex'])
    """
    import pandas as pd

    if isinstance(data, str):
        if not isinstance(treatment, pd.DataFrame):
            raise SpecError(f"{what}(formula, data): the second argument must be the DataFrame, "
                            f"got {type(treatment).__name__}")
        if covariates is not None:
            raise SpecError(f"{what}: give covariates in the formula or as `covariates`, not both")
        f = parse_formula(data, columns=treatment.columns, response=True)
        if not f.terms:
            raise SpecError(f"{what}: the formula {data!r} names no covariates")
        return treatment, f.response, list(f.terms)
    if treatment is None or covariates is None:
        raise SpecError(f"{what}: give `treatment` and `covariates`, or a formula such as 'treat ~ age + sex'")
    return data, treatment, covariates


def formula_covariates(xformla: str | None, data, covariates, *, what: str = "att_gt") -> list[str] | None:
    """Covariates from an R-did-style ``xformla`` (``"~ lpop + x2"``), or ``covariates`` unchanged."""
    if xformla is None:
        return covariates
    if covariates:
        raise SpecError(f"{what}: give `xformla` or `covariates`, not both")
    return list(parse_formula(xformla, columns=data.columns, response=False).terms) or None
