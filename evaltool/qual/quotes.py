"""Illustrative quotes: seeded selection per theme, redaction, attribution by role and site only.

Quotes are attributed as ``"Social worker, Site B"`` and never carry participant or document
ids. Names and other identifiers listed in a redaction list are masked (``[name]``) before a
quote leaves this module. When a role-and-site combination covers fewer than ``min_group_size``
participants, the attribution could identify someone: a :class:`~evaltool.errors.DataWarning`
is raised and the quote flagged (``small_group``); ``coarsen_small_groups=True`` attributes such
quotes by role only (or "Participant" when the role is small too).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, DataWarning

from .codebook import Codebook
from .segments import span_segments
from .summaries import primary_segments

REDACTION_MASK = "[name]"


def read_redaction_list(path: str | Path, expand_names: bool = True) -> list[str]:
    """Terms to mask: a text file (one per line, ``#`` comments) or a CSV/XLSX whose columns
    with ``name`` in their header hold the terms.

    With ``expand_names`` each word of a multi-word term (3+ letters) is also masked, so
    "Priya Shah" masks "Priya" and "Shah" on their own.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.txt")
    >>> _ = open(p, "w").write("# names\\nPriya Shah\\n")
    >>> read_redaction_list(p)
    ['Priya Shah', 'Priya', 'Shah']
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"redaction list `{path}` does not exist")
    if path.suffix.lower() in (".csv", ".xlsx", ".xlsm"):
        from .segments import read_tabular

        d = read_tabular(path, "redaction list")
        cols = [c for c in d.columns if "name" in str(c).lower()]
        if not cols:
            raise DataValidationError(
                f"redaction list `{path}`: expected columns with 'name' in the header, found {list(d.columns)}")
        terms = [t for c in cols for t in d[c].dropna().astype(str)]
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataValidationError(f"redaction list `{path}` is not UTF-8 text; save it as UTF-8") from None
        terms = [ln for ln in text.splitlines() if not ln.strip().startswith("#")]
    return expand_terms(terms, expand_names)


def expand_terms(terms: list[str], expand_names: bool = True) -> list[str]:
    """Clean, de-duplicate and (optionally) split multi-word terms into their words."""
    out: list[str] = []
    for t in terms:
        t = str(t).strip()
        if not t:
            continue
        out.append(t)
        if expand_names:
            out += [w for w in re.split(r"[\s\-]+", t) if len(w) >= 3 and w != t]
    return list(dict.fromkeys(out))


def redact(texts: pd.Series, terms: list[str], mask: str = REDACTION_MASK) -> pd.Series:
    """Mask every term (case-insensitive, whole words; longest first) in ``texts``.

    Examples
    --------
    >>> redact(pd.Series(["Priya said Shah's idea"]), ["Priya Shah", "Priya", "Shah"]).tolist()
    ["[name] said [name]'s idea"]
    """
    if not terms:
        return texts.copy()
    alts = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", flags=re.IGNORECASE)
    return texts.astype(str).str.replace(pattern, mask, regex=True)


def find_terms(values: list[str], terms: list[str]) -> list[str]:
    """Terms that appear (whole word, case-insensitive) in any of ``values``: a leak check."""
    if not terms:
        return []
    hits = []
    blob = "\n".join(values)
    for t in set(terms):
        if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", blob, flags=re.IGNORECASE):
            hits.append(t)
    return sorted(hits)


def _trim(text: str, max_chars: int) -> str:
    """Shorten at a word boundary with an ellipsis when over ``max_chars``."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


@dataclass(frozen=True)
class QuoteResult(ResultMixin):
    """Selected quotes: ``theme, theme_label, quote, attribution, role, site, n_chars, small_group``."""

    table: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        lines = [("quotes", str(len(self.table))), ("themes", str(self.table["theme"].nunique()))]
        lines += [("warning", w) for w in self.warnings]
        return Summary("Illustrative quotes", tuple(lines),
                       (("Quotes", self.table[["theme_label", "quote", "attribution"]]),))

    def to_dict(self) -> dict[str, Any]:
        return {"quotes": self.table.to_dict(orient="records"), "warnings": list(self.warnings)}

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        d = self.table.groupby("role").size().rename("n_quotes").reset_index()
        return (ggplot(d, aes("role", "n_quotes")) + geom_col(fill=NHS_BLUE) + coord_flip()
                + labs(x="", y="Quotes selected", title="Quotes by role") + theme_evaltool())


def select_quotes(
    segments: pd.DataFrame,
    codebook: Codebook,
    *,
    seed: int,
    per_theme: int = 3,
    min_chars: int = 40,
    max_chars: int = 300,
    redaction: list[str] | None = None,
    min_group_size: int = 3,
    coarsen_small_groups: bool = False,
    primary_coder: str | None = None,
) -> QuoteResult:
    """Choose up to ``per_theme`` quotes per theme, seeded, diverse across roles and sites.

    Candidates are segments of at least ``min_chars`` characters (shortened at a word boundary to
    ``max_chars``). Within a theme, candidates are shuffled with ``numpy.random.default_rng(seed)``
    and picked greedily, preferring a role, then a site, then a participant not yet quoted for
    that theme, so quotes spread across stakeholder groups. At most one quote per participant
    per theme; the same words are never quoted twice (across themes too); a passage is a candidate
    only for the theme(s) its words are most often coded to.

    Examples
    --------
    >>> # select_quotes(project.segments, project.codebook, seed=1, redaction=["Priya Shah"])
    """
    rng = np.random.default_rng(seed)
    seg = span_segments(primary_segments(segments, primary_coder))  # a whole interview is not a quote
    seg = seg.assign(theme=seg["code"].map(codebook.theme_of()))
    seg = seg[seg["theme"].notna() & (seg["text"].astype(str).str.len() >= min_chars)].copy()
    seg = seg.drop_duplicates(["participant_id", "theme", "text"]).reset_index(drop=True)
    # A quote illustrates only the theme its words are most often coded to (a passage coded to a
    # second theme now and then -- "two vacancies" under "learning together" -- is not an example
    # of that theme), and the same words appear once in the whole table, under one role.
    terms = expand_terms(list(redaction or []))
    # Compare the words as they would be shown: two passages that differ only in a masked name
    # ("... Priya is my key worker" / "... John is my key worker") are the same quote.
    seg["_shown"] = redact(seg["text"].astype(str), terms)
    seg["_words"] = seg["_shown"].map(lambda t: " ".join(t.split()).lower())
    counts = seg.groupby(["_words", "theme"]).size()
    best = counts.groupby(level=0).transform("max")
    modal = set(counts[counts == best].index)
    seg = seg[[(w, t) in modal for w, t in zip(seg["_words"], seg["theme"])]].reset_index(drop=True)
    seg["_key"] = rng.random(len(seg))  # one draw per candidate: the order is reproducible
    seg = seg.sort_values(["theme", "_key"], kind="stable")
    picked = []
    said: set[str] = set()
    for theme, cand in seg.groupby("theme", sort=True):
        roles, sites, people = set(), set(), set()
        rows = cand.to_dict("records")
        for _ in range(min(per_theme, cand["participant_id"].nunique())):
            # Never the same participant twice within a theme, never the same words twice at all.
            best = min((r for r in rows if r["participant_id"] not in people and r["_words"] not in said),
                       key=lambda r: (r["role"] in roles, r["site"] in sites), default=None)
            if best is None:
                break
            picked.append(best)
            roles.add(best["role"])
            sites.add(best["site"])
            people.add(best["participant_id"])
            said.add(best["_words"])
    cols = ["theme", "theme_label", "quote", "attribution", "role", "site", "n_chars", "small_group"]
    if not picked:
        return QuoteResult(pd.DataFrame(columns=cols))
    q = pd.DataFrame(picked)
    # Redacted before trimming: a name cut in half by the length limit would escape the mask.
    q["quote"] = q["_shown"].astype(str).map(lambda t: _trim(t, max_chars))
    q["n_chars"] = q["quote"].str.len().astype("int64")
    sizes = segments.groupby(["role", "site"])["participant_id"].nunique()
    role_sizes = segments.groupby("role")["participant_id"].nunique()
    q["small_group"] = [int(sizes.get((r, s), 0)) < min_group_size for r, s in zip(q["role"], q["site"])]
    q["attribution"] = q["role"].astype(str) + ", " + q["site"].astype(str)
    msgs = []
    if q["small_group"].any():
        combos = sorted({f"{r}, {s}" for r, s in q.loc[q["small_group"], ["role", "site"]].itertuples(index=False)})
        msg = (f"{int(q['small_group'].sum())} quote(s) are attributed to role-and-site combinations with fewer "
               f"than {min_group_size} participants ({'; '.join(combos)}): readers may identify the speaker. "
               + ("Attributed by role only." if coarsen_small_groups else
                  "Consider coarsen_small_groups=True or removing these quotes."))
        warnings.warn(msg, DataWarning, stacklevel=2)
        msgs.append(msg)
        if coarsen_small_groups:
            small_role = q["role"].map(role_sizes).fillna(0) < min_group_size
            q.loc[q["small_group"], "attribution"] = np.where(small_role[q["small_group"]], "Participant",
                                                              q.loc[q["small_group"], "role"])
    q["theme_label"] = q["theme"].map(codebook.theme_labels())
    return QuoteResult(q[cols].reset_index(drop=True), tuple(msgs))
