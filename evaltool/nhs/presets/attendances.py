"""Attendances: HES/SUS outpatients, the Emergency Care Data Set and HES A&E, as contract activity rows.

Codes follow the NHS Data Model and Dictionary (ATTENDED OR DID NOT ATTEND CODE; EMERGENCY CARE
ATTENDANCE CATEGORY; ACCIDENT AND EMERGENCY ATTENDANCE CATEGORY) and field names the HES OP, HES A&E
and ECDS data dictionaries (NHS Digital) and the SUS+ / NCDR tables.

* Outpatients: attended appointments only (ATTENDED 5 seen on time, 6 arrived late and seen);
  did-not-attends (3), cancellations (2, 4), late and not seen (7) and unknown are counted and left out.
* ECDS: unplanned attendances (EMERGENCY CARE ATTENDANCE CATEGORY 1 first, 2 follow-up at this
  department, 3 follow-up at another department) by default; planned follow-ups (4) left out.
  ``options: {attendance_categories: [...]}`` and ``{department_types: ["01", ...]}`` change this.
* HES A&E (to 2019/20): AEATTENDCAT 1 (first) and 3 (unplanned follow-up); 2 (planned follow-up) left out.
"""
from __future__ import annotations

from typing import Any

import ibis

from evaltool.nhs.codes import snomed_expr
from evaltool.nhs.presets.base import Context, PendingStep, Prepared, code_in, dedupe, person_ids

DICTIONARY = ("NHS Data Model and Dictionary attribute codes (attended or did not attend; emergency care and A&E "
              "attendance category; 2023); HES OP, HES A&E and ECDS data dictionary field names (NHS Digital)")
ATTENDED = ("5", "6")

OP_FIELDS = {
    "hes_op": {"person": ("NEWNHSNO", "NHSNO", "NHS_NUMBER", "TOKEN_PERSON_ID", "HESID", "PERSON_ID"),
               "date": ("APPTDATE",), "attended": ("ATTENDED",), "key": ("ATTENDKEY", "ATTENDID"),
               "first": ("FIRSTATT",), "provider": ("PROCODE3", "PROCODE"), "cost": ("COST",)},
    "sus_op": {"person": ("Der_Pseudo_NHS_Number", "NHS_Number", "NHSNumber"),
               "date": ("Appointment_Date",), "attended": ("Attendance_Status", "Attended_or_Did_Not_Attend"),
               "key": ("OPA_Ident", "Attendance_Identifier"), "first": ("First_Attendance",),
               "provider": ("Der_Provider_Code", "Provider_Code"), "cost": ("Tariff_Total_Payment", "Cost")},
}
AE_FIELDS = {
    "ecds": {"person": ("NHS_NUMBER", "Der_Pseudo_NHS_Number", "NHS_Number", "TOKEN_PERSON_ID", "PERSON_ID"),
             "date": ("ARRIVAL_DATE", "EC_ARRIVAL_DATE", "Arrival_Date"),
             "time": ("ARRIVAL_TIME", "EC_ARRIVAL_TIME", "Arrival_Time"),
             "category": ("EC_ATTENDANCE_CATEGORY", "ATTENDANCE_CATEGORY", "EC_AttendanceCategory"),
             "department": ("EC_DEPARTMENT_TYPE", "DEPARTMENT_TYPE", "EC_Department_Type"),
             "key": ("EC_IDENT", "EC_Ident", "ATTENDANCE_ID", "EC_ATTENDANCE_ID"),
             "provider": ("PROVIDER_CODE", "Der_Provider_Code", "PROCODE3"), "cost": ("COST", "Tariff_Total_Payment")},
    "hes_ae": {"person": ("NEWNHSNO", "NHSNO", "NHS_NUMBER", "TOKEN_PERSON_ID", "HESID"),
               "date": ("ARRIVALDATE",), "time": ("ARRIVALTIME",), "category": ("AEATTENDCAT",),
               "department": ("AEDEPTTYPE",), "key": ("AEKEY",), "provider": ("PROCODE3", "PROCODE"),
               "cost": ("COST",)},
}
AE_DEFAULT_CATEGORIES = {"ecds": ("1", "2", "3"), "hes_ae": ("1", "3")}
_TOKENS = ("TOKEN_PERSON_ID", "HESID", "PERSON_ID")


def _is_nhs(ctx: Context, col: str) -> bool:
    return col.upper() not in _TOKENS or ctx.mapping.nhs_number is not None


def _cost(t: Any, cols: dict[str, str]) -> Any:
    if "cost" not in cols:
        return ibis.null().cast("float64")
    return t[cols["cost"]].cast("string").re_replace(r"^\s+|\s+$", "").nullif("").try_cast("decimal(18, 2)").cast("float64")


def _head(ctx: Context, unit: str) -> tuple[Any, list[PendingStep]]:
    n0 = ctx.raw.count()
    return ctx.raw, [PendingStep(unit, f"{unit.capitalize()} in {ctx.source}", unit, n0, n0, always=True)]


def build_outpatients(ctx: Context, preset: str) -> Prepared:
    cols = ctx.resolve(OP_FIELDS[preset], ("person", "date", "attended"))
    t, steps = _head(ctx, "appointments")
    t = person_ids(ctx, t, steps, "appointments", is_nhs_number=_is_nhs(ctx, cols["person"]))
    t = t.mutate(_date=ctx.date(t, "date"), _att=ctx.text(t, "attended"), _prov=ctx.text(t, "provider").fill_null(""),
                 _cost=_cost(t, cols))
    n = t.count()
    key = [cols["key"]] if "key" in cols else ["person_id", "_date", "_prov"]
    if "key" not in cols:
        # Without an appointment key two appointments on one day at one provider look alike: keep both.
        key = None
    if key:
        t = dedupe(t, key, [t._date, t._att])
        steps.append(PendingStep("duplicate_appointments", "Duplicate appointments removed (same ATTENDKEY)",
                                 "appointments", n, t.count(), "the same appointment appears more than once"))
    t = ctx.persist(t, "op_appointments")
    n = t.count()
    kept = t.filter(code_in(t._att, ATTENDED))
    steps.append(PendingStep("not_attended", "Appointments not attended (did not attend 3, cancelled 2 or 4, "
                             "late and not seen 7, unknown) left out", "appointments", n, kept.count(),
                             "ATTENDED not 5 or 6"))
    n = kept.count()
    kept = kept.filter(kept._date.notnull())
    steps.append(PendingStep("appointment_without_date", "Attended appointments without a readable date",
                             "appointments", n, kept.count(), "appointment date blank or not a date"))
    out = kept.select("person_id", date="_date", setting=ibis.literal("outpatient_attendance"),
                      bed_days=ibis.literal(0.0), cost="_cost")
    return Prepared("activity", out, ctx.source, preset, steps, dictionary=DICTIONARY)


def build_ae(ctx: Context, preset: str) -> Prepared:
    cols = ctx.resolve(AE_FIELDS[preset], ("person", "date"))
    t, steps = _head(ctx, "attendances")
    t = person_ids(ctx, t, steps, "attendances", is_nhs_number=_is_nhs(ctx, cols["person"]))
    t = t.mutate(_date=ctx.date(t, "date"), _cat=ctx.text(t, "category"), _dept=ctx.text(t, "department"),
                 _time=ctx.text(t, "time"), _prov=ctx.text(t, "provider").fill_null(""), _cost=_cost(t, cols))
    n = t.count()
    if "key" in cols:
        t = dedupe(t, [cols["key"]], [t._date, t._time])
        steps.append(PendingStep("duplicate_attendances", "Duplicate attendances removed (same attendance id)",
                                 "attendances", n, t.count(), "the same attendance appears more than once"))
    t = ctx.persist(t, "ae_attendances")
    cats = tuple(str(c) for c in ctx.mapping.options.get("attendance_categories", AE_DEFAULT_CATEGORIES[preset]))
    if "category" in cols:
        n = t.count()
        t = t.filter(code_in(t._cat, cats))
        what = "planned follow-ups (4)" if preset == "ecds" else "planned follow-ups (2)"
        steps.append(PendingStep("planned_attendances", f"Attendances outside categories {', '.join(cats)} "
                                 f"({what}, unknown) left out", "attendances", n, t.count(),
                                 f"attendance category not in {', '.join(cats)}"))
    depts = ctx.mapping.options.get("department_types")
    if depts and "department" in cols:
        n = t.count()
        t = t.filter(code_in(t._dept, tuple(str(d).zfill(2) for d in depts)))
        steps.append(PendingStep("department_type", f"Attendances at other department types (kept "
                                 f"{', '.join(map(str, depts))}) left out", "attendances", n, t.count(),
                                 "department type not selected"))
    n = t.count()
    t = t.filter(t._date.notnull())
    steps.append(PendingStep("attendance_without_date", "Attendances without a readable arrival date",
                             "attendances", n, t.count(), "arrival date blank or not a date"))
    out = t.select("person_id", date="_date", setting=ibis.literal("ae_attendance"), bed_days=ibis.literal(0.0),
                   cost="_cost")
    extras = {}
    dcols = [c for c in ctx.raw.columns if c.upper().startswith(("EC_DIAGNOSIS_", "DIAGNOSIS_CODE_"))]
    if preset == "ecds" and dcols:
        parts = [t.select("person_id", date="_date", position=ibis.literal(i + 1).cast("int64"),
                          code=snomed_expr(t[c])) for i, c in enumerate(sorted(dcols))]
        d = parts[0]
        for p in parts[1:]:
            d = d.union(p, distinct=False)
        extras["ae_diagnoses"] = d.filter(d.code.notnull())
    return Prepared("activity", out, ctx.source, preset, steps, extras, dictionary=DICTIONARY)
