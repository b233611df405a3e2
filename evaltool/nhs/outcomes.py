"""Coded outcomes: activity defined by diagnosis code lists or by the time before death.

The spec's ``coded_outcomes:`` section names each outcome and says how it is found; every one
becomes activity rows whose ``setting`` is its name, so the effects stage analyses it like any
other outcome:

.. code-block:: yaml

    coded_outcomes:
      acs_chronic_admission: {codelist: acs_chronic}       # shipped list (see evaltool.nhs.codelists)
      acs_acute_admission: {codelist: acs_acute}
      falls_admission_65: {codelist: falls_fractures}      # the list's age limit (65+) applies
      my_frailty_admission:                                # a user's list: no code changes needed
        codelist: {path: codes/frailty.csv, position: any}
        admissions: emergency
      eol_emergency_admission_100d: {end_of_life: 100}     # emergency admissions in the last 100 days of life
      eol_bed_days_90d: {end_of_life: 90, measure: bed_days}

Code-list outcomes need diagnoses (an ``hes_apc``/``sus_apc`` source with diagnosis columns);
end-of-life outcomes need death dates. Rows are derived from the *validated* tables, so every
exclusion of the input checks applies to them too.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import ibis
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evaltool.errors import DataValidationError
from evaltool.nhs.codelists import CodeList, from_csv, get, spell_flags

__all__ = ["CodeListFile", "CodedOutcome", "derive_rows", "outcome_words", "resolve_list"]


class CodeListFile(BaseModel):
    """A user's code list (CSV with ``code`` and optionally ``condition``, ``with_secondary``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    coding: Literal["icd10", "snomed"] = "icd10"
    position: Literal["primary", "any"] = "any"
    title: str | None = None


class CodedOutcome(BaseModel):
    """One coded outcome (spec ``coded_outcomes.<name>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    codelist: str | CodeListFile | None = Field(None, description="a shipped list name or {path: ...}")
    end_of_life: int | None = Field(None, ge=1, le=730, description="days before death (e.g. 90, 100)")
    admissions: Literal["emergency", "elective", "all"] | None = Field(
        None, description="which admissions (default: the list's; emergency for end of life)")
    measure: Literal["count", "bed_days"] = Field("count", description="count admissions or sum their bed days")
    min_age: int | None = Field(None, ge=0, le=120, description="age at admission (default: the list's)")
    label: str | None = Field(None, description="what the report calls the outcome (default: the code list's "
                              "title, or 'Emergency admissions in the last N days of life')")
    short: str | None = Field(None, description="a shorter label for table cells (default: the list's short label)")

    @field_validator("label", "short")
    @classmethod
    def _words(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^\x00-\x1f\x7f]{1,120}", v.strip()):
            raise ValueError(f"expected a label of 1-120 characters on one line, got {v!r}")
        return v.strip() if v is not None else v

    @model_validator(mode="after")
    def _one(self) -> CodedOutcome:
        if (self.codelist is None) == (self.end_of_life is None):
            raise ValueError("give exactly one of `codelist` (a code list) or `end_of_life` (days before death)")
        return self

    @field_validator("codelist")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if isinstance(v, str):
            get(v)  # a clear error naming the shipped lists
        return v


def resolve_list(name: str, oc: CodedOutcome) -> CodeList | None:
    if oc.codelist is None:
        return None
    if isinstance(oc.codelist, str):
        return get(oc.codelist)
    f = oc.codelist
    return from_csv(f.path, name, coding=f.coding, position=f.position, admissions=oc.admissions or "all",
                    title=f.title)


_ADMISSIONS = {"emergency": ("Emergency admissions", "Emergency bed days"),
               "elective": ("Planned admissions", "Planned-admission bed days"),
               "all": ("Admissions", "Bed days")}


def outcome_words(name: str, oc: CodedOutcome) -> dict[str, str]:
    """How the report names a coded outcome: ``label``, ``short`` (for table cells) and ``unit`` (the
    noun of "N fewer ... per 1,000 people a year"). The spec's ``label``/``short`` win; otherwise the
    code list's title and short label, reworded when the spec counts other admissions or bed days.

    Examples
    --------
    >>> outcome_words("acs", CodedOutcome(codelist="acs_chronic"))["label"]
    'Emergency admissions for chronic ambulatory care sensitive conditions'
    >>> outcome_words("eol", CodedOutcome(end_of_life=90, measure="bed_days"))
    {'label': 'Emergency bed days in the last 90 days of life', 'short': 'Bed days, last 90 days of life', 'unit': 'bed days'}
    """
    unit = "bed days" if oc.measure == "bed_days" else "admissions"
    # A shipped list's title (a user's list is not read here: its `title`, else the outcome's name).
    cl = get(oc.codelist) if isinstance(oc.codelist, str) else None
    if oc.codelist is not None and cl is None:
        f = oc.codelist
        words = f.title or name.replace("_", " ")
        cl = CodeList(name=name, title=words[:1].upper() + words[1:], entries=(),
                      admissions=oc.admissions or "all")
    if cl is None:
        adm = oc.admissions or "emergency"
        noun = _ADMISSIONS[adm][oc.measure == "bed_days"]
        label = f"{noun} in the last {oc.end_of_life} days of life"
        short = f"{'Bed days' if oc.measure == 'bed_days' else 'Admissions'}, last {oc.end_of_life} days of life"
    else:
        adm = oc.admissions or cl.admissions
        title = cl.title or name.replace("_", " ")
        as_listed = adm == cl.admissions and oc.measure == "count" and cl.title
        noun = _ADMISSIONS[adm][oc.measure == "bed_days"]
        label = title if as_listed else f"{noun}: {title[:1].lower() + title[1:]}"
        short = (cl.short if as_listed else "") or ""
    return {"label": oc.label or label, "short": oc.short or (short if not oc.label else "") or "", "unit": unit}


def check_name(name: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,62}", name):
        raise ValueError(f"coded outcome name {name!r}: use lower-case letters, digits and _")
    return name


def age_years(when: Any, dob: Any) -> Any:
    """Ibis: whole years of age at ``when`` (a birthday not yet reached that year does not count)."""
    w, b = when.cast("date"), dob.cast("date")
    before = (w.month() < b.month()) | ((w.month() == b.month()) & (w.day() < b.day()))
    return (w.year() - b.year() - ibis.ifelse(before, 1, 0)).cast("int64")


def derive_rows(name: str, oc: CodedOutcome, activity: Any, population: Any, diagnoses: Any | None) -> Any:
    """Activity rows (``person_id, date, setting=name, bed_days, cost, spell_id``) for one coded outcome.

    ``activity`` and ``population`` are the validated engine tables; ``diagnoses`` the spells'
    diagnoses (from an APC preset) or None.
    """
    adm_kind = oc.admissions
    cl = resolve_list(name, oc)
    if cl is not None:
        adm_kind = adm_kind or cl.admissions
    adm_kind = adm_kind or "emergency"
    settings = {"emergency": ["emergency_admission"], "elective": ["elective_admission"],
                "all": ["emergency_admission", "elective_admission"]}[adm_kind]
    a = activity.filter(activity.setting.isin(settings))
    if cl is not None:
        if diagnoses is None or "spell_id" not in activity.columns:
            raise DataValidationError(
                f"coded outcome `{name}` needs diagnoses: give an admitted patient care source with "
                "`preset: hes_apc` (or sus_apc) and its diagnosis columns")
        if cl.coding == "snomed":
            raise DataValidationError(f"coded outcome `{name}`: SNOMED CT lists apply to ECDS diagnoses, not admissions")
        hit = spell_flags(diagnoses, cl).select(_sp="spell_id")
        a = a.inner_join(hit, a.spell_id == hit._sp).drop("_sp")
        min_age = oc.min_age if oc.min_age is not None else cl.min_age
        if min_age is not None:
            p = population.select(_pid="person_id", _dob="birth_date")
            a = a.inner_join(p, a.person_id == p._pid)
            a = a.filter(age_years(a.date, a._dob) >= min_age).drop("_pid", "_dob")
    else:
        p = population.select(_pid="person_id", _dod="death_date").filter(population.death_date.notnull())
        a = a.inner_join(p, a.person_id == p._pid)
        gap = a._dod.cast("date").delta(a.date.cast("date"), unit="day")
        a = a.filter((gap >= 0) & (gap < int(oc.end_of_life))).drop("_pid", "_dod")
    cols = {"person_id": a.person_id, "date": a.date, "setting": ibis.literal(name),
            "bed_days": a.bed_days if "bed_days" in a.columns else ibis.null().cast("float64"),
            "cost": ibis.null().cast("float64")}
    if "spell_id" in activity.columns:
        cols["spell_id"] = a.spell_id
    return a.select(**cols)
