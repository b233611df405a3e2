"""The mixed-methods joint display: quantitative findings beside the themes that explain them.

Each row sets one quantitative finding (text from the spec, or a number from the effects
stage's facts) beside the qualitative themes linked to it in the spec, with how many
participants raised each theme, an illustrative quote per theme, and the fit label the analysts
assigned: ``confirms`` (the voices agree with the number), ``expands`` (they explain or add to
it), ``discordant`` (they contradict it) or ``silent`` (no theme speaks to it).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataWarning, SpecError

FITS = ("confirms", "expands", "discordant", "silent")


class JointDisplayEntry(BaseModel):
    """One row of the joint display, as written in the spec."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    finding: str = Field("", description="Quantitative finding in words; may contain {value} for quant_key's value.")
    quant_key: str | None = Field(None, description="Key in the effects facts whose value the finding cites.")
    themes: tuple[str, ...] = Field((), description="Codebook themes that explain or contradict it (none: silent).")
    fit: Literal["confirms", "expands", "discordant", "silent"] = Field(
        "confirms", description="Fit label agreed by the analysts; 'silent' when no theme speaks to the finding.")


#: Subgroup variables whose levels are known before the data are read (fact-key form).
KNOWN_LEVELS = {"age_band": ("under_65", "65_plus")}
_EFFECT_STATS = ("rate_ratio", "ci_lower", "ci_upper", "p_value", "difference_per_1000py")
_SLUG = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


def _slug(level: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(level).lower().replace("+", "_plus")).strip("_")


def check_quant_key(key: str, outcomes: tuple[str, ...] = (), subgroups: tuple[str, ...] = (),
                    rollout_outcomes: tuple[str, ...] = ()) -> str | None:
    """Why ``key`` cannot name a published fact (None when it can), with the key it probably meant.

    Keys are stable: ``effects.<outcome>.<did|naive>.<level>.<statistic>`` with the subgroup level in
    fact form (``all``, ``under_65``, ``65_plus``), ``effects.<outcome>.pretrend_p_value``,
    ``rollout.<outcome>_rate_ratio``, or ``<section>.<key>`` of another stage's facts.

    Examples
    --------
    >>> check_quant_key("effects.emergency_admission.did.under 65.rate_ratio", ("emergency_admission",), ("age_band",))
    "level 'under 65' is not a fact key; did you mean 'effects.emergency_admission.did.under_65.rate_ratio'?"
    >>> check_quant_key("effects.emergency_admission.did.65_plus.rate_ratio", ("emergency_admission",), ("age_band",))
    """
    parts = str(key).split(".")
    if parts[0] == "effects" and len(parts) == 5:
        _, outcome, analysis, level, stat = parts
        if outcomes and outcome not in outcomes:
            return f"outcome {outcome!r} is not one of the spec's effects.outcomes {list(outcomes)}"
        if analysis not in ("did", "naive"):
            return f"analysis {analysis!r} must be 'did' or 'naive'"
        if stat not in _EFFECT_STATS:
            return f"statistic {stat!r} must be one of {list(_EFFECT_STATS)}"
        if not _SLUG.match(level):
            fixed = ".".join([*parts[:3], _slug(level), stat])
            return f"level {level!r} is not a fact key; did you mean {fixed!r}?"
        allowed = {"all"}
        for g in subgroups:
            allowed |= set(KNOWN_LEVELS.get(g, ()))
        if level not in allowed and all(g in KNOWN_LEVELS for g in subgroups):
            return f"level {level!r} is not one of {sorted(allowed)} (from effects.subgroups)"
        return None
    if parts[0] == "effects" and len(parts) == 3 and parts[2] in ("pretrend_p_value", "naive_change_pct"):
        if outcomes and parts[1] not in outcomes:
            return f"outcome {parts[1]!r} is not one of the spec's effects.outcomes {list(outcomes)}"
        return None
    if parts[0] == "effects":
        return ("expected effects.<outcome>.<did|naive>.<level>.<statistic>, e.g. "
                "'effects.emergency_admission.did.under_65.rate_ratio'")
    if parts[0] == "rollout" and len(parts) == 2:
        m = re.match(r"^([a-z_]+?)_(rate_ratio|excess_per_1000py|pretest_p_value)$", parts[1])
        if m and rollout_outcomes and m.group(1) not in rollout_outcomes:
            return f"outcome {m.group(1)!r} is not one of the spec's rollout.outcomes {list(rollout_outcomes)}"
        return None if _SLUG.match(parts[1]) else f"{parts[1]!r} is not a fact key (letters, digits and _)"
    if len(parts) >= 2 and all(_SLUG.match(p) for p in parts):
        return None
    return "expected <section>.<fact key> in lower case with _ (e.g. 'rollout.emergency_admission_rate_ratio')"


def flatten_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """Accept ``{key: value}`` or the pipeline's ``{section: {key: value}}``.

    Nested facts are available as ``section.key`` and, when no other section uses the same key,
    as plain ``key``.

    Examples
    --------
    >>> flatten_facts({"effects": {"rr": 0.8}, "n": 3})
    {'n': 3, 'effects.rr': 0.8, 'rr': 0.8}
    """
    out: dict[str, Any] = {k: v for k, v in facts.items() if not isinstance(v, dict)}
    seen: dict[str, int] = {}
    for sec, sub in facts.items():
        if isinstance(sub, dict):
            for k, v in sub.items():
                out[f"{sec}.{k}"] = v
                seen[k] = seen.get(k, 0) + 1
    for sec, sub in facts.items():
        if isinstance(sub, dict):
            for k, v in sub.items():
                if seen[k] == 1 and k not in out:
                    out[k] = v
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


@dataclass(frozen=True)
class JointDisplayResult(ResultMixin):
    """Joint display rows: ``finding, quant_value, themes, fit, quotes``."""

    table: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        counts = self.table["fit"].value_counts()
        return Summary("Joint display", tuple((f, str(int(counts.get(f, 0)))) for f in FITS),
                       (("Rows", self.table),))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.table.to_dict(orient="records")}

    def plot(self):
        from plotnine import aes, geom_col, ggplot, labs, scale_fill_manual

        from evaltool.plotting import PALETTE, theme_evaltool

        d = self.table["fit"].value_counts().reindex(list(FITS), fill_value=0).rename_axis("fit").reset_index(name="n")
        return (ggplot(d, aes("fit", "n", fill="fit")) + geom_col()
                + scale_fill_manual(values=dict(zip(FITS, PALETTE)))
                + labs(x="", y="Findings", title="Fit between quantitative findings and themes") + theme_evaltool())


def joint_display(
    findings: list[JointDisplayEntry | dict],
    theme_summary: pd.DataFrame,
    *,
    quotes: pd.DataFrame | None = None,
    effects_facts: dict[str, Any] | None = None,
) -> JointDisplayResult:
    """Build the joint display.

    Parameters
    ----------
    findings:
        Entries (``finding``, optional ``quant_key``, ``themes``, ``fit``) from the spec.
    theme_summary:
        Theme frequencies overall: ``item`` (theme), ``label``, ``n_participants``,
        ``pct_participants`` (``frequencies(..., level="theme").to_frame()``).
    quotes:
        Selected quotes (``theme, quote, attribution``); the first per theme is shown.
    effects_facts:
        Headline numbers (``{key: value}`` or ``{section: {key: value}}``); ``quant_key`` looks up
        here. A missing key gives "not available" in the row and a DataWarning, not an error.

    Examples
    --------
    >>> ts = pd.DataFrame({"item": ["t"], "label": ["Trust"], "n_participants": [9], "pct_participants": [30.0]})
    >>> jd = joint_display([{"finding": "Admissions fell {value}", "quant_key": "rr", "themes": ["t"],
    ...                      "fit": "confirms"}], ts, effects_facts={"rr": 0.81})
    >>> jd.to_frame().loc[0, "finding"]
    'Admissions fell 0.81'
    """
    entries = [f if isinstance(f, JointDisplayEntry) else JointDisplayEntry(**f) for f in findings]
    known = dict(zip(theme_summary["item"], theme_summary["label"]))
    n_part = dict(zip(theme_summary["item"], theme_summary["n_participants"]))
    pct = dict(zip(theme_summary["item"], theme_summary["pct_participants"]))
    facts = flatten_facts(effects_facts or {})
    first_quote = {}
    if quotes is not None and len(quotes):
        for t, g in quotes.groupby("theme", sort=False):
            q0 = g.iloc[0]
            first_quote[t] = f"\u201c{q0['quote']}\u201d ({q0['attribution']})"
    rows = []
    msgs: list[str] = []
    for i, e in enumerate(entries):
        bad = [t for t in e.themes if t not in known]
        if bad:
            raise SpecError(f"`qual.joint_display[{i}].themes`: {bad} not in the codebook's themes "
                            f"{sorted(known)}")
        value = None
        text = e.finding or (e.quant_key or "")
        if e.quant_key is not None:
            if e.quant_key in facts:
                value = facts[e.quant_key]
            else:
                # The effects stage may have failed or not run: say so in the row rather than fail
                # the whole qualitative section.
                msgs.append(f"`qual.joint_display[{i}].quant_key` {e.quant_key!r} not found in the stage facts "
                            f"(available: {', '.join(sorted(facts)[:15]) or 'none'}); shown as not available")
                text = text.replace("{value}", "not available")
        if value is not None:
            text = text.replace("{value}", _fmt(value)) if "{value}" in text else f"{text} ({_fmt(value)})"
        themes = "; ".join(f"{known[t]} ({int(n_part.get(t, 0))} participants, {pct.get(t, 0):.0f}%)"
                           for t in e.themes)
        rows.append({"finding": text, "finding_template": e.finding, "quant_key": e.quant_key or "",
                     "quant_value": None if value is None else float(value) if isinstance(value, (int, float)) else None,
                     "themes": themes, "fit": e.fit,
                     "quotes": " | ".join(first_quote[t] for t in e.themes if t in first_quote)})
    cols = ["finding", "finding_template", "quant_key", "quant_value", "themes", "fit", "quotes"]
    if msgs:
        warnings.warn("; ".join(msgs), DataWarning, stacklevel=2)
    return JointDisplayResult(pd.DataFrame(rows, columns=cols), tuple(msgs))
