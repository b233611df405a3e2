"""Admitted patient care: HES APC and SUS APC episodes collapsed to hospital spells.

Follows the NHS Data Model and Dictionary codes (ADMISSION METHOD CODE (HOSPITAL PROVIDER SPELL),
SOURCE OF ADMISSION CODE, DISCHARGE METHOD CODE, DISCHARGE DESTINATION CODE; as published in 2023)
and the HES APC Data Dictionary's field names (NHS Digital); SUS APC uses the field names of the
SUS+ / NCDR admitted patient care episode tables. Steps, each counted:

1. person id: NHS number normalised and Modulus 11 checked (or a pseudonymised token);
2. duplicate episodes removed (same episode key, or same person, provider, admission date,
   episode start and order when there is no key);
3. unfinished episodes (EPISTAT other than 3) removed; episodes without a readable admission date removed;
4. episodes collapsed into spells (same spell id, or same person, provider and admission date): the
   spell takes admission method, source and diagnoses from its first episode (lowest EPIORDER,
   then earliest start) and discharge date, method and destination from its last;
5. admission method: 21-25, 28, 2A-2D emergency; 11-13 elective; others (maternity 31-32,
   transfers 81, births 82-83, not known 98-99) are neither and are counted as left out;
6. bed days: discharge date minus admission date (0 for a same-day spell; unknown without a
   discharge date); cost: the sum over the spell's episodes of a mapped ``cost`` column;
7. care-home admissions: spells discharged to a care home (DISDEST 54, 65, 85) by people not
   admitted from one (ADMISORC 54, 65, 85), dated at discharge;
8. deaths in hospital: DISMETH 4, dated at discharge (``extras["deaths"]``).
"""
from __future__ import annotations

import re
from typing import Any

import ibis

from evaltool.nhs.codes import icd10_expr
from evaltool.nhs.presets.base import Context, PendingStep, Prepared, code_in, dedupe, free_names, person_ids

EMERGENCY = ("21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D")
ELECTIVE = ("11", "12", "13")
CARE_HOME = ("54", "65", "85")
DIED = ("4",)
DICTIONARY = ("NHS Data Model and Dictionary attribute codes (admission method, source of admission, discharge "
              "method and destination; 2023); HES APC Data Dictionary field names (NHS Digital)")

HES_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("NEWNHSNO", "NHSNO", "NHS_NUMBER", "TOKEN_PERSON_ID", "HESID", "PERSON_ID"),
    "episode_key": ("EPIKEY",),
    "episode_order": ("EPIORDER",),
    "episode_status": ("EPISTAT",),
    "admission_date": ("ADMIDATE",),
    "episode_start": ("EPISTART",),
    "episode_end": ("EPIEND",),
    "discharge_date": ("DISDATE",),
    "admission_method": ("ADMIMETH",),
    "admission_source": ("ADMISORC",),
    "discharge_method": ("DISMETH",),
    "discharge_destination": ("DISDEST",),
    "provider": ("PROCODE3", "PROCODE5", "PROCODE"),
    "spell_id": ("SPELL_ID",),
    "cost": ("COST",),
}
SUS_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("Der_Pseudo_NHS_Number", "NHS_Number", "NHSNumber", "Pseudo_NHS_Number"),
    "episode_key": ("APCE_Ident", "Episode_Ident"),
    "episode_order": ("Episode_Number", "Der_Episode_Number"),
    "episode_status": ("Episode_Status",),
    "admission_date": ("Admission_Date",),
    "episode_start": ("Episode_Start_Date",),
    "episode_end": ("Episode_End_Date",),
    "discharge_date": ("Discharge_Date",),
    "admission_method": ("Admission_Method",),
    "admission_source": ("Source_of_Admission", "Admission_Source"),
    "discharge_method": ("Discharge_Method",),
    "discharge_destination": ("Discharge_Destination",),
    "provider": ("Der_Provider_Code", "Provider_Code"),
    "spell_id": ("APCS_Ident", "Hospital_Provider_Spell_Number", "Provider_Spell_Number"),
    "cost": ("Tariff_Total_Payment", "Cost"),
}
REQUIRED = ("person", "admission_date", "admission_method")


def diagnosis_columns(columns: list[str], preset: str, explicit: list[str] | None = None) -> list[tuple[int, str]]:
    """``(position, column)`` of the diagnosis columns, primary first.

    Examples
    --------
    >>> diagnosis_columns(["ADMIDATE", "DIAG_4_02", "DIAG_4_01", "DIAG_01"], "hes_apc")
    [(1, 'DIAG_4_01'), (2, 'DIAG_4_02')]
    """
    if explicit:
        low = {c.lower(): c for c in columns}
        return [(i + 1, low[c.lower()]) for i, c in enumerate(explicit) if c.lower() in low]
    found: list[tuple[int, str]] = []
    if preset.startswith("sus"):
        pats = [(r"^(der_)?primary_diagnosis(_code)?$", 1), (r"^(der_)?secondary_diagnosis(_code)?_(\d+)$", None)]
        for c in columns:
            for pat, pos in pats:
                m = re.match(pat, c, re.IGNORECASE)
                if m:
                    found.append((pos if pos else int(m.group(3)) + 1, c))
        return sorted(found)
    for pat in (r"^DIAG_4_(\d{2})$", r"^DIAG_(\d{2})$", r"^DIAG(\d{2})$"):
        found = sorted((int(m.group(1)), c) for c in columns if (m := re.match(pat, c, re.IGNORECASE)))
        if found:
            return found
    return []


def build(ctx: Context, preset: str) -> Prepared:
    """HES APC / SUS APC episodes (``ctx.raw``) -> spells as contract activity rows."""
    fields = SUS_FIELDS if preset.startswith("sus") else HES_FIELDS
    cols = ctx.resolve(fields, REQUIRED)
    person_col = cols["person"]
    is_nhs = person_col.upper() not in ("TOKEN_PERSON_ID", "HESID", "PERSON_ID") or ctx.mapping.nhs_number is not None
    steps: list[PendingStep] = []
    t = ctx.raw
    n0 = t.count()
    steps.append(PendingStep("episodes", f"Episodes in {ctx.source}", "episodes", n0, n0, always=True))

    t = person_ids(ctx, t, steps, "episodes", is_nhs_number=is_nhs)
    t = t.mutate(
        _adm=ctx.date(t, "admission_date"),
        _start=ctx.date(t, "episode_start") if "episode_start" in cols else ibis.null().cast("date"),
        _end=ctx.date(t, "episode_end") if "episode_end" in cols else ibis.null().cast("date"),
        _dis=ctx.date(t, "discharge_date") if "discharge_date" in cols else ibis.null().cast("date"),
        _order=(t[cols["episode_order"]].cast("string").re_replace(r"[^0-9]", "").nullif("").cast("int64")
                if "episode_order" in cols else ibis.literal(1).cast("int64")),
        _meth=ctx.text(t, "admission_method"),
        _src=ctx.text(t, "admission_source"),
        _dmeth=ctx.text(t, "discharge_method"),
        _dest=ctx.text(t, "discharge_destination"),
        _prov=ctx.text(t, "provider").fill_null(""),
        _status=ctx.text(t, "episode_status"),
        _spell=ctx.text(t, "spell_id"),
        _cost=(t[cols["cost"]].cast("string").re_replace(r"^\s+|\s+$", "").nullif("").try_cast("decimal(18, 2)")
               if "cost" in cols else ibis.null().cast("decimal(18, 2)")),
    )
    # Duplicate episodes: the same episode key, or the same episode identity when there is no key.
    n_before = t.count()
    key = [cols["episode_key"]] if "episode_key" in cols else ["person_id", "_prov", "_adm", "_start", "_order"]
    t = dedupe(t, key, [t[c] for c in ("_order", "_start", "_end", "_meth", "_dis")])
    t = ctx.persist(t, "apc_episodes")
    steps.append(PendingStep("duplicate_episodes", "Duplicate episodes removed (one copy kept)", "episodes",
                             n_before, t.count(), "the same episode appears more than once in the extract"))
    if "episode_status" in cols:
        n_before = t.count()
        t = t.filter(t._status.isnull() | code_in(t._status, ("3",)))
        steps.append(PendingStep("unfinished_episodes", "Unfinished episodes removed (EPISTAT not 3)", "episodes",
                                 n_before, t.count(), "episode not finished"))
    n_before = t.count()
    t = t.filter(t._adm.notnull())
    steps.append(PendingStep("episode_without_admission_date", "Episodes without a readable admission date",
                             "episodes", n_before, t.count(),
                             "admission date blank or not a date" + _fmt_hint(ctx, "admission_date")))

    # Spells: the spell id, or person + provider + admission date.
    t = free_names(t, ["spell_id", "first"])
    spell_key = ibis.ifelse(t._spell.notnull(), "S:" + t._spell, "K:" + t._prov + ":" + t._adm.cast("string"))
    t = t.mutate(spell_id=t.person_id + "|" + spell_key)
    first_w = ibis.window(group_by=t.spell_id, order_by=[t._order, t._start, t._end])
    last_w = ibis.window(group_by=t.spell_id, order_by=[t._order.desc(), t._end.desc(), t._start.desc()])
    t = t.mutate(_first=ibis.row_number().over(first_w) == 0, _last=ibis.row_number().over(last_w) == 0)
    t = ctx.persist(t, "apc_episodes_ordered")
    n_epi = t.count()
    first = t.filter(t._first).select("spell_id", "person_id", "_adm", "_meth", "_src")
    last = t.filter(t._last).select("spell_id", _dis_l="_dis", _dmeth_l="_dmeth", _dest_l="_dest", _end_l="_end")
    costs = t.group_by("spell_id").aggregate(_cost_s=t._cost.sum())
    s = first.inner_join(last, "spell_id").inner_join(costs, "spell_id")
    dis = ibis.coalesce(s._dis_l, ibis.ifelse(s._dmeth_l.notnull(), s._end_l, ibis.null().cast("date")))
    s = s.mutate(
        discharge_date=dis,
        _cat=ibis.cases((code_in(s._meth, EMERGENCY), "emergency"), (code_in(s._meth, ELECTIVE), "elective"),
                        else_="other"),
    )
    s = s.mutate(bed_days=ibis.ifelse(s.discharge_date.notnull() & (s.discharge_date >= s._adm),
                                      s.discharge_date.delta(s._adm, unit="day").cast("float64"),
                                      ibis.null().cast("float64")))
    s = ctx.persist(s, "apc_spells")
    n_spells = s.count()
    steps.append(PendingStep("episodes_collapsed", "Episodes collapsed into hospital spells (continuation "
                             "episodes of multi-episode spells)", "episodes", n_epi, n_spells,
                             "later episodes of a spell become part of the spell (first episode: admission "
                             "method and diagnoses; last: discharge)"))
    kept = s.filter(s._cat != "other")
    steps.append(PendingStep("other_admission_method", "Spells neither emergency nor elective (maternity 31-32, "
                             "transfers 81, births 82-83, not known) left out", "spells", n_spells, kept.count(),
                             "admission method not 21-28/2A-2D (emergency) or 11-13 (elective)"))
    steps.append(PendingStep("spell_without_discharge", "Spells without a discharge date (still in hospital at "
                             "extract end): bed days unknown, spell kept", "spells", kept.count(), kept.count(),
                             "no discharge date", n_affected=kept.filter(kept.discharge_date.isnull()).count()))
    admissions = kept.select(
        "person_id", date="_adm",
        setting=ibis.ifelse(kept._cat == "emergency", "emergency_admission", "elective_admission"),
        bed_days="bed_days", cost=kept._cost_s.cast("float64"), spell_id="spell_id",
    )
    extras: dict[str, Any] = {}
    if "discharge_destination" in cols and "admission_source" in cols:
        ch = s.filter(code_in(s._dest_l, CARE_HOME) & ~code_in(s._src, CARE_HOME) & s.discharge_date.notnull())
        care = ch.select("person_id", date="discharge_date", setting=ibis.literal("care_home_admission"),
                         bed_days=ibis.literal(0.0), cost=ibis.null().cast("float64"), spell_id="spell_id")
        steps.append(PendingStep("care_home_admissions", "Care-home admissions derived: discharged to a care home "
                                 "(DISDEST 54, 65, 85) when not admitted from one", "spells", n_spells, n_spells,
                                 "added as care_home_admission activity", n_affected=ch.count()))
        admissions = admissions.union(care, distinct=False)
    if "discharge_method" in cols:
        died = s.filter(code_in(s._dmeth_l, DIED) & s.discharge_date.notnull())
        extras["deaths"] = died.group_by("person_id").aggregate(death_date=died.discharge_date.min())
        steps.append(PendingStep("deaths_in_hospital", "Deaths in hospital found (DISMETH 4)", "spells", n_spells,
                                 n_spells, "date of death = discharge date", n_affected=died.count()))
    extras["spells"] = s.select("spell_id", "person_id", date="_adm", admission="_cat",
                                discharge_date="discharge_date", bed_days="bed_days")
    dx = _diagnoses(ctx, t, preset, steps)
    if dx is not None:
        extras["diagnoses"] = dx.inner_join(s.select("spell_id", _cat2="_cat"), "spell_id").rename(admission="_cat2")
    admissions = admissions.mutate(date=admissions.date.cast("date"))
    return Prepared("activity", admissions, ctx.source, preset, steps, extras, dictionary=DICTIONARY)


def _fmt_hint(ctx: Context, role: str) -> str:
    fmt = ctx.mapping.date_format_for(role) or ctx.mapping.date_format_for("*")
    return f" (expected {fmt})" if fmt else " (expected YYYY-MM-DD; set `date_format` for other layouts)"


def _diagnoses(ctx: Context, t: Any, preset: str, steps: list[PendingStep]) -> Any:
    """One row per spell, episode and diagnosis: ``spell_id, person_id, date, position, code, first``."""
    explicit = ctx.mapping.options.get("diagnosis_columns")
    dcols = diagnosis_columns(list(ctx.raw.columns), preset, explicit)
    if not dcols:
        return None
    parts = []
    for pos, c in dcols:
        raw = t[c].cast("string").re_replace(r"^\s+|\s+$", "").nullif("")
        parts.append(t.select("spell_id", "person_id", date="_adm", first="_first",
                              position=ibis.literal(pos).cast("int64"), raw=raw, code=icd10_expr(raw)))
    d = parts[0]
    for p in parts[1:]:
        d = d.union(p, distinct=False)
    d = d.filter(d.raw.notnull())
    d = ctx.persist(d, "apc_diagnoses")
    steps.append(PendingStep("invalid_diagnosis_codes", "Diagnosis codes that are not ICD-10 codes (ignored)",
                             "diagnosis codes", d.count(), d.filter(d.code.notnull()).count(),
                             "not a letter and two digits"))
    return d.filter(d.code.notnull()).drop("raw")
