"""Patient-reported experience measures: a generic engine driven by YAML item maps.

An item map (see ``evaltool/proms/instruments/*.yaml``) lists response sets (labels, the numeric
codes surveys export, scores, "don't know" options, the top box), items (with reverse coding)
and scales (items, scoring rule, minimum share answered: the half rule). Data hold one row per
respondent with item columns carrying either the labels or the codes.

Scoring rules:

* Reverse-coded items: score -> (max + min) - score over the item's scored options.
* "Don't know"/"not relevant": ``dont_know: missing`` counts them as unanswered for scoring;
  for top-box percentages they are in the base when ``base="all"`` and out when ``base="valid"``.
* Scales: ``sum_prorated`` (mean of answered items x number of items: a full-length sum when
  complete) or ``mean``; a respondent is scored only when the share of items answered is at
  least ``min_answered`` (0.5 = the half rule), otherwise the scale score is missing.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, SpecError, format_rows


@dataclass(frozen=True)
class ResponseSet:
    name: str
    labels: tuple[str, ...]
    codes: tuple[float, ...]
    scores: tuple[float, ...]
    dont_know_labels: tuple[str, ...] = ()
    dont_know_codes: tuple[float, ...] = ()
    top_box: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    id: str
    response_set: str
    text: str = ""
    reverse: bool = False


@dataclass(frozen=True)
class Scale:
    name: str
    label: str
    items: tuple[str, ...]
    score: str = "sum_prorated"
    min_answered: float = 0.5


@dataclass(frozen=True)
class PremDefinition:
    """A parsed item map. Build with :func:`load_definition` or :meth:`from_dict`."""

    name: str
    title: str
    survey: str
    source: str
    confirm: str
    dont_know: str
    response_sets: dict[str, ResponseSet]
    items: tuple[Item, ...]
    scales: tuple[Scale, ...]
    fft: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> PremDefinition:
        """Parse an item map from a dict (the YAML), checking references.

        Examples
        --------
        >>> d = PremDefinition.from_dict({"name": "x", "response_sets": {"yn": {"options": [
        ...     {"label": "Yes", "score": 1}, {"label": "No", "score": 0}]}},
        ...     "items": [{"id": "q1", "response_set": "yn"}]})
        >>> d.items[0].id
        'q1'
        """
        if not isinstance(spec, dict):
            raise SpecError(f"PREM item map: expected a YAML mapping with `name`, `response_sets` and `items`, "
                            f"found {type(spec).__name__}")
        try:
            rsets = {}
            for name, rs in (spec.get("response_sets") or {}).items():
                opts = rs["options"]
                dk = rs.get("dont_know") or []
                rsets[name] = ResponseSet(
                    name=name,
                    labels=tuple(str(o["label"]) for o in opts),
                    codes=tuple(float(o.get("code", np.nan)) for o in opts),
                    scores=tuple(float(o["score"]) for o in opts),
                    dont_know_labels=tuple(str(o["label"]) for o in dk),
                    dont_know_codes=tuple(float(o["code"]) for o in dk if "code" in o),
                    top_box=tuple(str(x) for x in rs.get("top_box", ())),
                )
            items = tuple(
                Item(str(i["id"]), str(i["response_set"]), str(i.get("text", "")), bool(i.get("reverse", False)))
                for i in spec["items"]
            )
            scales = tuple(
                Scale(
                    name=str(k), label=str(v.get("label", k)), items=tuple(map(str, v["items"])),
                    score=str(v.get("score", "sum_prorated")), min_answered=float(v.get("min_answered", 0.5)),
                )
                for k, v in (spec.get("scales") or {}).items()
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)[:200]
            raise SpecError(f"PREM item map {str(spec.get('name', '?'))[:60]!r} is malformed ({what}): each response "
                            "set needs `options` with `label` and `score`; each item an `id` and a "
                            "`response_set`.") from None
        ids = {i.id for i in items}
        for i in items:
            if i.response_set not in rsets:
                raise SpecError(f"PREM item {i.id!r} uses unknown response set {i.response_set!r}; known: {sorted(rsets)}.")
        for s in scales:
            unknown = [x for x in s.items if x not in ids]
            if unknown:
                raise SpecError(f"PREM scale {s.name!r} lists unknown items {unknown}.")
            if s.score not in ("sum_prorated", "mean"):
                raise SpecError(f"PREM scale {s.name!r}: `score` must be 'sum_prorated' or 'mean'; found {s.score!r}.")
            if not 0 < s.min_answered <= 1:
                raise SpecError(f"PREM scale {s.name!r}: `min_answered` must be in (0, 1]; found {s.min_answered}.")
        dont_know = str(spec.get("dont_know", "missing"))
        if dont_know not in ("missing", "keep"):
            raise SpecError(f"PREM item map `dont_know` must be 'missing' or 'keep'; found {dont_know!r}.")
        return cls(
            name=str(spec["name"]), title=str(spec.get("title", spec["name"])),
            survey=str(spec.get("survey", spec["name"])), source=str(spec.get("source", "")),
            confirm=str(spec.get("confirm", "")), dont_know=dont_know,
            response_sets=rsets, items=items, scales=scales, fft=spec.get("fft"),
        )

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise SpecError(f"{self.name} has no item {item_id!r}.")


def load_definition(name_or_path: str | Path) -> PremDefinition:
    """Load a shipped item map (``"P3CEQ"``, ``"FFT"``) or a YAML file path.

    Examples
    --------
    >>> load_definition("P3CEQ").scales[-1].label
    'P3CEQ total (0-33)'
    """
    shipped = {"p3ceq": "p3ceq.yaml", "fft": "fft.yaml"}
    key = str(name_or_path).lower()
    if key in shipped:
        text = resources.files("evaltool.proms").joinpath("instruments", shipped[key]).read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SpecError(f"PREM definition {str(name_or_path)[:200]!r} is neither shipped ({sorted(shipped)}) "
                            "nor a file.")
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as err:
            raise SpecError(f"PREM definition `{path}` cannot be read as UTF-8 text: {str(err)[:120]}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"PREM definition {str(name_or_path)[:200]!r} is not valid YAML{where}") from None
    return PremDefinition.from_dict(data)


# ---------------------------------------------------------------------------------------------
# Item coding
# ---------------------------------------------------------------------------------------------
def _norm(s: pd.Series) -> pd.Series:
    """Lower-case, trimmed text with typographic apostrophes straightened (vectorised)."""
    out = s.astype("object").where(s.notna(), None).astype("string").str.strip()
    return out.str.replace("\u2019", "'", regex=False).str.lower()


def code_item(values: pd.Series, rs: ResponseSet, *, reverse: bool = False, item: str = "item") -> pd.DataFrame:
    """Classify and score one item's responses.

    Returns a frame with ``status`` (answered / dont_know / missing), ``label`` (canonical option
    label or "Don't know" label) and ``score`` (after reverse coding; NaN unless answered).
    Responses may be labels (any case) or the numeric codes in the item map. Unknown responses
    raise :class:`DataValidationError` naming the rows.

    Examples
    --------
    >>> rs = load_definition("FFT").response_sets["fft6"]
    >>> code_item(pd.Series(["good", 1, None]), rs)["label"].tolist()
    ['Good', 'Very good', None]
    """
    raw = values.reset_index(drop=True)
    norm = _norm(raw)
    numeric = pd.to_numeric(norm, errors="coerce")
    dk_labels = list(rs.dont_know_labels) or ["Don't know"]
    # Two lookups: by label text, by numeric code; each gives the canonical label.
    by_label = {lab.lower(): lab for lab in rs.labels + rs.dont_know_labels}
    by_code = {c: lab for c, lab in zip(rs.codes, rs.labels) if not math.isnan(c)}
    by_code.update({c: dk_labels[min(i, len(dk_labels) - 1)] for i, c in enumerate(rs.dont_know_codes)})
    label = norm.map(by_label).astype("object")
    from_code = numeric.map(by_code).astype("object")
    label = label.where(label.notna(), from_code)
    blank = norm.isna() | norm.isin(["", "nan", "none"])
    unknown = label.isna() & ~blank
    if unknown.any():
        raise DataValidationError(
            f"item `{item}` has responses not in its response set ({', '.join(rs.labels + rs.dont_know_labels)}"
            f" or codes {[int(c) for c in rs.codes if not math.isnan(c)]}): found "
            f"{sorted(set(raw[unknown].astype(str)))[:5]} in {format_rows(np.flatnonzero(unknown.to_numpy()) + 1)}."
        )
    score = label.map(dict(zip(rs.labels, rs.scores))).astype(float)
    is_dk = label.isin(rs.dont_know_labels + tuple(dk_labels))
    status = np.where(blank.to_numpy(dtype=bool), "missing", np.where(is_dk.to_numpy(), "dont_know", "answered"))
    if reverse:
        score = (max(rs.scores) + min(rs.scores)) - score
    label = label.where(label.notna(), None)
    return pd.DataFrame({"status": status, "label": label, "score": score})


def score_prem(data: pd.DataFrame, definition: PremDefinition | str) -> pd.DataFrame:
    """Respondent-level item and scale scores (for analysts; not for publication).

    Returns one row per input row with ``<item>`` scores (NaN if unanswered or don't know),
    ``<scale>`` scores (NaN if fewer than ``min_answered`` of its items answered) and
    ``<scale>_n_answered``.

    Examples
    --------
    >>> d = load_definition("P3CEQ")
    >>> row = {i.id: "Completely" for i in d.items} | {"p3ceq_q4": "Never", "p3ceq_q9": "Yes", "p3ceq_q10": "Yes"}
    >>> float(score_prem(pd.DataFrame([row]), d)["total"].iloc[0])
    33.0
    """
    d = load_definition(definition) if isinstance(definition, str) else definition
    missing = [i.id for i in d.items if i.id not in data.columns]
    if missing:
        raise DataValidationError(
            f"`data` lacks item column(s) {', '.join(missing)} required by the {d.name} item map."
        )
    return _scores_from_coded(_code_all(data, d), d, data.index)


def _code_all(data: pd.DataFrame, d: PremDefinition) -> dict[str, pd.DataFrame]:
    return {it.id: code_item(data[it.id], d.response_sets[it.response_set], reverse=it.reverse, item=it.id)
            for it in d.items}


def _scores_from_coded(coded: dict[str, pd.DataFrame], d: PremDefinition, index: pd.Index) -> pd.DataFrame:
    scores = pd.DataFrame({k: v["score"] for k, v in coded.items()})
    for sc in d.scales:
        block = scores[list(sc.items)]
        n_ans = block.notna().sum(axis=1)
        k = len(sc.items)
        ok = n_ans >= math.ceil(sc.min_answered * k - 1e-9)
        mean = block.mean(axis=1)
        value = mean * k if sc.score == "sum_prorated" else mean
        scores[sc.name] = value.where(ok)
        scores[f"{sc.name}_n_answered"] = n_ans
    scores.index = index
    return scores


def cronbach_alpha(items: pd.DataFrame) -> tuple[float, int]:
    """Cronbach's alpha over complete cases: k/(k-1) * (1 - sum of item variances / variance of total).

    Returns ``(alpha, n_complete)``.

    Examples
    --------
    >>> a, n = cronbach_alpha(pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 2, 3, 5], "c": [1, 3, 3, 4]}))
    >>> round(a, 4), n
    (0.9474, 4)
    """
    x = items.dropna().to_numpy(dtype=float)
    n, k = x.shape
    if k < 2 or n < 2:
        return np.nan, n
    total_var = x.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return np.nan, n
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total_var)), n


# ---------------------------------------------------------------------------------------------
# Top box and FFT
# ---------------------------------------------------------------------------------------------
def top_box(
    responses: pd.Series,
    top: Sequence[str],
    *,
    base: str = "valid",
    dont_know: Sequence[str] = ("Don't know",),
    weights: pd.Series | None = None,
    by: pd.Series | None = None,
) -> pd.DataFrame:
    """Percentage of responses in the top box, with the base stated.

    Parameters
    ----------
    responses:
        Response labels (blank/NaN = did not answer; never in any base).
    top:
        Labels counted as the top box.
    base:
        ``"valid"``: answered, excluding ``dont_know``; ``"all"``: every answer, "don't know" included.
    weights:
        Optional non-negative survey weights: adds ``pct_weighted`` and the Kish effective base
        ``n_effective`` = (sum w)^2 / sum w^2.
    by:
        Optional grouping (same length as ``responses``).

    Examples
    --------
    >>> r = pd.Series(["Very good", "Good", "Poor", "Don't know", None])
    >>> top_box(r, ["Very good", "Good"], base="all")[["n_base", "n_top", "pct"]].to_dict("records")
    [{'n_base': 4, 'n_top': 2, 'pct': 50.0}]
    """
    if base not in ("valid", "all"):
        raise DataValidationError(f"`base` must be 'valid' or 'all'; found {base!r}.")
    r = _norm(responses.reset_index(drop=True))
    topset = {t.lower().replace("\u2019", "'") for t in top}
    dkset = {t.lower().replace("\u2019", "'") for t in dont_know}
    answered = r.notna() & (r != "")
    in_base = answered & (~r.isin(dkset) if base == "valid" else True)
    is_top = in_base & r.isin(topset)
    frame = pd.DataFrame({"g": "all" if by is None else by.reset_index(drop=True).astype(str),
                          "base": in_base.astype(int), "top": is_top.astype(int)})
    if weights is not None:
        w = pd.to_numeric(weights.reset_index(drop=True), errors="coerce")
        if (w < 0).any() or w[in_base].isna().any():
            raise DataValidationError("`weights` must be non-negative numbers for every response in the base.")
        frame["w"] = w.fillna(0) * frame["base"]
        frame["wt"] = frame["w"] * frame["top"]
        frame["w2"] = frame["w"] ** 2
    agg = frame.groupby("g", sort=True).sum(numeric_only=True)
    out = pd.DataFrame({
        "group": agg.index, "base": f"{base} responses" + (" (don't know included)" if base == "all" else
                                                           " (don't know excluded)"),
        "n_base": agg["base"].to_numpy(), "n_top": agg["top"].to_numpy(),
    })
    out["pct"] = np.where(out["n_base"] > 0, 100 * out["n_top"] / out["n_base"].clip(lower=1), np.nan)
    if weights is not None:
        out["pct_weighted"] = np.where(agg["w"] > 0, 100 * agg["wt"] / agg["w"].where(agg["w"] > 0), np.nan)
        out["n_effective"] = np.where(agg["w2"] > 0, agg["w"] ** 2 / agg["w2"].where(agg["w2"] > 0), np.nan)
    return out.reset_index(drop=True)


def fft_summary(data: pd.DataFrame, definition: PremDefinition | str = "FFT", *, by: str | None = None) -> pd.DataFrame:
    """Friends and Family Test: % positive and % negative over all responses (don't know included).

    Examples
    --------
    >>> df = pd.DataFrame({"fft_q1": ["Very good", "Good", "Poor", "Don't know", "Neither good nor poor"]})
    >>> fft_summary(df)[["n_responses", "pct_positive", "pct_negative"]].to_dict("records")
    [{'n_responses': 5, 'pct_positive': 40.0, 'pct_negative': 20.0}]
    """
    d = load_definition(definition) if isinstance(definition, str) else definition
    if not d.fft:
        raise SpecError(f"item map {d.name!r} has no `fft` block (item, positive, negative).")
    item = d.fft["item"]
    if item not in data.columns:
        raise DataValidationError(f"`data` lacks the FFT item column {item!r}.")
    rs = d.response_sets[d.item(item).response_set]
    coded = code_item(data[item], rs, item=item)
    lab = coded["label"]
    g = pd.Series("all", index=coded.index) if by is None else data[by].reset_index(drop=True).astype(str)
    answered = coded["status"] != "missing"
    frame = pd.DataFrame({
        "group": g,
        "n_responses": answered.astype(int),
        "n_positive": lab.isin(d.fft["positive"]).astype(int),
        "n_negative": lab.isin(d.fft["negative"]).astype(int),
        "n_dont_know": (coded["status"] == "dont_know").astype(int),
        "n_blank": (~answered).astype(int),
    })
    out = frame.groupby("group", sort=True).sum().reset_index()
    out["n_neutral"] = out["n_responses"] - out["n_positive"] - out["n_negative"] - out["n_dont_know"]
    denom = out["n_responses"].where(out["n_responses"] > 0)
    out["pct_positive"] = 100 * out["n_positive"] / denom
    out["pct_negative"] = 100 * out["n_negative"] / denom
    out["base"] = "all responses (don't know included)"
    return out


# ---------------------------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PremResult(ResultMixin):
    """Aggregate PREM results: scale summaries, item top-box, Cronbach's alpha, FFT (if defined)."""

    name: str
    title: str
    scales: pd.DataFrame
    items: pd.DataFrame
    alpha: pd.DataFrame
    fft: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        tables = [("Scales", self.scales), ("Items", self.items), ("Cronbach's alpha", self.alpha)]
        if self.fft is not None:
            tables.insert(0, ("Friends and Family Test", self.fft))
        return Summary(title=self.title, lines=tuple(("Note", n) for n in self.notes), tables=tuple(tables))

    def to_frame(self) -> pd.DataFrame:
        return self.scales.copy() if len(self.scales) else (self.fft.copy() if self.fft is not None else self.items.copy())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "notes": list(self.notes),
            "scales": self.scales.to_dict(orient="records"), "items": self.items.to_dict(orient="records"),
            "alpha": self.alpha.to_dict(orient="records"),
            "fft": None if self.fft is None else self.fft.to_dict(orient="records"),
        }

    def plot(self):
        from evaltool.proms._plots import top_box_bars

        if self.fft is not None and len(self.fft):
            df = self.fft.rename(columns={"pct_positive": "pct", "n_responses": "n_base"})
            return top_box_bars(df, x="group", pct="pct", n="n_base")
        df = self.items.copy()
        fill = "group" if "group" in df.columns and df["group"].nunique() > 1 else None
        return top_box_bars(df, x="item", pct="pct", n="n_base", fill=fill)


def summarise_prem(
    data: pd.DataFrame,
    definition: PremDefinition | str,
    *,
    by: str | None = "group",
    weights: str | None = None,
    base: str = "valid",
    confidence: float = 0.95,
) -> PremResult:
    """Score a PREM with its item map and summarise it by group.

    Scales: n scored, n not scored (half rule), mean, SD, t-based CI. Items: n answered, n don't
    know, n missing, top-box % with the base stated (optionally weighted). Alpha per scale and
    group over complete cases. FFT block if the map defines one.

    Examples
    --------
    >>> d = load_definition("FFT")
    >>> df = pd.DataFrame({"group": ["a"] * 4, "fft_q1": ["Very good", "Good", "Poor", "Don't know"]})
    >>> summarise_prem(df, d).fft["pct_positive"].tolist()
    [50.0]
    """
    from evaltool import dist

    d = load_definition(definition) if isinstance(definition, str) else definition
    if by is not None and by not in data.columns:
        by = None
    missing = [i.id for i in d.items if i.id not in data.columns]
    if missing:
        raise DataValidationError(f"`data` lacks item column(s) {', '.join(missing)} required by the {d.name} item map.")
    coded = _code_all(data, d)  # each item coded once, then aggregated by group
    scores = _scores_from_coded(coded, d, pd.RangeIndex(len(data)))
    g = data[by].astype(str).to_numpy() if by else np.full(len(data), "all")
    scale_rows, alpha_rows = [], []
    for grp in sorted(set(g)):
        m = g == grp
        for sc in d.scales:
            v = scores.loc[m, sc.name].dropna().to_numpy(float)
            n = len(v)
            se = v.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            tcrit = dist.t_ppf(0.5 + confidence / 2, n - 1) if n > 1 else np.nan
            scale_rows.append({
                "group": grp, "scale": sc.name, "label": sc.label, "n_scored": n,
                "n_not_scored": int(m.sum() - n), "estimate": v.mean() if n else np.nan,
                "sd": v.std(ddof=1) if n > 1 else np.nan, "std_error": se,
                "ci_lower": v.mean() - tcrit * se if n > 1 else np.nan,
                "ci_upper": v.mean() + tcrit * se if n > 1 else np.nan,
                "rule": f"{sc.score}, scored if >= {sc.min_answered:.0%} of {len(sc.items)} items answered",
            })
            a, n_complete = cronbach_alpha(scores.loc[m, list(sc.items)])
            alpha_rows.append({"group": grp, "scale": sc.name, "n_items": len(sc.items),
                               "n_complete": n_complete, "alpha": a})
    item_frames = []
    gser = pd.Series(g)
    for it in d.items:
        rs = d.response_sets[it.response_set]
        c = coded[it.id]
        agg = pd.DataFrame({
            "group": g, "n_answered": (c["status"] == "answered").astype(int),
            "n_dont_know": (c["status"] == "dont_know").astype(int),
            "n_missing": (c["status"] == "missing").astype(int), "score": c["score"],
        }).groupby("group", sort=True).agg(n_answered=("n_answered", "sum"), n_dont_know=("n_dont_know", "sum"),
                                           n_missing=("n_missing", "sum"), mean_score=("score", "mean")).reset_index()
        agg.insert(1, "item", it.id)
        agg.insert(2, "text", it.text)
        if rs.top_box:
            tb = top_box(c["label"], rs.top_box, base=base, dont_know=rs.dont_know_labels or ("Don't know",),
                         weights=None if weights is None else data[weights].reset_index(drop=True), by=gser)
            agg["top_box"] = " / ".join(rs.top_box)
            agg = agg.merge(tb, on="group", how="left")
        item_frames.append(agg)
    items_tab = pd.concat(item_frames, ignore_index=True).sort_values(["group"], kind="stable").reset_index(drop=True)
    fft = fft_summary(data, d, by=by) if d.fft else None
    notes = tuple(n for n in (d.source and f"Source: {d.source}", d.confirm and f"Confirm: {d.confirm}") if n)
    return PremResult(d.name, d.title, pd.DataFrame(scale_rows), items_tab, pd.DataFrame(alpha_rows), fft, notes)
