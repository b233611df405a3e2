"""People: a GP registration list, a programme's enrolment list, and area deprivation.

The GP list preset follows the NHS Data Model and Dictionary data elements NHS NUMBER, GENERAL
MEDICAL PRACTICE CODE (PATIENT REGISTRATION) (an ODS code), PERSON BIRTH DATE, PERSON STATED GENDER
CODE (1 male, 2 female, 9 indeterminate, X not known), registration start and end dates, LOWER
LAYER SUPER OUTPUT AREA and PERSON DEATH DATE, under the column names GP and PDS extracts commonly
use. A person listed more than once keeps their latest registration (counted). Other contract
columns (``ltc_count``, ``frailty``, ``risk_score``, ``imd_decile``, ...) come in through ``columns:``.

Deprivation: ``imd_decile`` (1 = most deprived 10%) becomes ``imd_quintile`` = ceil(decile / 2);
an LSOA column with a lookup file (``data.lsoa_lookup``: LSOA code and IMD decile, or IMD rank
with ``n_areas`` ranked, 32,844 LSOAs in England's IMD 2019) gives the decile.
"""
from __future__ import annotations

from typing import Any

import ibis

from evaltool.errors import DataValidationError
from evaltool.nhs.mapping import find_column, recode_expr, recoded_flag
from evaltool.nhs.presets.base import Context, PendingStep, Prepared, dedupe, person_ids

DICTIONARY = ("NHS Data Model and Dictionary data elements (NHS number, GP practice code, person birth date, person "
              "stated gender code, LSOA, person death date; 2023); IMD 2019 (MHCLG) deciles")
GP_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("NHS_NUMBER", "NHSNO", "NEWNHSNO", "NHS_NO", "Der_Pseudo_NHS_Number", "PATIENT_ID", "PERSON_ID"),
    "practice_id": ("GP_PRACTICE_CODE", "PRACTICE_CODE", "ODS_CODE", "PRACTICE", "GENERAL_MEDICAL_PRACTICE_CODE"),
    "birth_date": ("DATE_OF_BIRTH", "DOB", "PERSON_BIRTH_DATE", "BIRTH_DATE"),
    "sex": ("PERSON_STATED_GENDER_CODE", "GENDER", "SEX", "GENDER_CODE"),
    "registration_start": ("REGISTRATION_START_DATE", "REG_START_DATE", "REGISTRATION_DATE", "DATE_OF_REGISTRATION"),
    "registration_end": ("REGISTRATION_END_DATE", "REG_END_DATE", "DEREGISTRATION_DATE", "DATE_OF_DEREGISTRATION"),
    "lsoa": ("LSOA_CODE", "LSOA", "LSOA11", "LSOA21", "LSOA11CD", "LSOA21CD"),
    "death_date": ("DATE_OF_DEATH", "DOD", "PERSON_DEATH_DATE", "DEATH_DATE"),
    "imd_decile": ("IMD_DECILE", "IMD_2019_DECILE", "IMD_DECILE_2019"),
    "imd_quintile": ("IMD_QUINTILE",),
}
#: PERSON STATED GENDER CODE and the usual spellings, as the contract's F/M (not known -> missing).
SEX_CODES: dict[str, str | None] = {"1": "M", "2": "F", "M": "M", "F": "F", "MALE": "M", "FEMALE": "F",
                                    "0": None, "9": None, "X": None, "U": None, "I": None, "UNKNOWN": None}
DATE_ROLES = ("birth_date", "registration_start", "registration_end", "death_date")
PASS_THROUGH = ("age", "ltc_count", "frailty", "risk_score", "treated", "index_date", "imd_quintile", "imd_decile")
ENROL_FIELDS = {"person": ("NHS_NUMBER", "NHSNO", "NEWNHSNO", "PERSON_ID", "PATIENT_ID"),
                "index_date": ("INDEX_DATE", "ENROLMENT_DATE", "ENROLLED_DATE", "REFERRAL_DATE", "START_DATE")}
ENGLAND_LSOAS_IMD2019 = 32844


def _is_nhs(ctx: Context) -> bool:
    return ctx.cols["person"].upper() not in ("PATIENT_ID", "PERSON_ID") or ctx.mapping.nhs_number is not None


def build_gp_list(ctx: Context, preset: str = "gp_list") -> Prepared:
    cols = ctx.resolve(GP_FIELDS, ("person", "practice_id", "birth_date", "sex"))
    n0 = ctx.raw.count()
    steps = [PendingStep("registrations", f"Registrations in {ctx.source}", "people", n0, n0, always=True)]
    t = person_ids(ctx, ctx.raw, steps, "people", is_nhs_number=_is_nhs(ctx))
    sex_map = {**SEX_CODES, **{str(k).strip().upper(): v for k, v in ctx.mapping.values.get("sex", {}).items()}}
    m: dict[str, Any] = {
        "practice_id": t[cols["practice_id"]].cast("string").re_replace(r"^\s+|\s+$", "").upper().nullif(""),
        "sex": recode_expr(t[cols["sex"]], sex_map),
    }
    for role in DATE_ROLES:
        m[role] = ctx.date(t, role) if role in cols else ibis.null().cast("date")
    for c in PASS_THROUGH:
        src = ctx.mapping.columns.get(c)
        if src is not None and c not in m:
            col = find_column(list(ctx.raw.columns), src)
            if col is None:
                raise DataValidationError(f"{ctx.source}: `columns: {{{c}: {src}}}` names a column that is not there")
            m[c] = (ctx.date(t, c) if c == "index_date" and ctx.mapping.date_format else
                    recode_expr(t[col], ctx.mapping.values.get(c, {})))
    for c in ("lsoa", "imd_decile", "imd_quintile"):
        if c in cols and c not in m:
            m[c] = t[cols[c]].cast("string").re_replace(r"^\s+|\s+$", "").upper().nullif("")
    unknown_sex = t.filter(recoded_flag(t[cols["sex"]], {k: v for k, v in sex_map.items() if v is None})
                           | t[cols["sex"]].isnull()).count()
    t = t.select("person_id", **m)
    steps.append(PendingStep("sex_not_known", "Sex recorded as not known or not specified (0, 9, X, U, I): set "
                             "to missing", "people", t.count(), t.count(), "PERSON STATED GENDER CODE not 1 or 2",
                             n_affected=unknown_sex))
    n = t.count()
    t = dedupe(t, ["person_id"], [t.registration_start.desc(), t.registration_end.desc(), t.practice_id])
    t = ctx.persist(t, "gp_list")
    steps.append(PendingStep("repeat_registrations", "People listed more than once: latest registration kept",
                             "people", n, t.count(), "earlier registrations of the same person"))
    return Prepared("population", t, ctx.source, preset, steps, dictionary=DICTIONARY)


def build_enrolment(ctx: Context, preset: str = "enrolment") -> Prepared:
    """A programme's caseload: one row per person enrolled, with the enrolment (index) date."""
    cols = ctx.resolve(ENROL_FIELDS, ("person", "index_date"))
    n0 = ctx.raw.count()
    steps = [PendingStep("enrolments", f"Enrolments in {ctx.source}", "people", n0, n0, always=True)]
    t = person_ids(ctx, ctx.raw, steps, "enrolments", is_nhs_number=_is_nhs(ctx))
    t = t.select("person_id", index_date=ctx.date(t, "index_date"))
    n = t.count()
    t = t.filter(t.index_date.notnull())
    steps.append(PendingStep("enrolment_without_date", "Enrolments without a readable enrolment date", "people", n,
                             t.count(), "enrolment date blank or not a date"))
    n = t.count()
    t = dedupe(t, ["person_id"], [t.index_date])
    t = ctx.persist(t.select("person_id", "index_date"), "enrolment")
    steps.append(PendingStep("repeat_enrolments", "People enrolled more than once: first enrolment kept", "people",
                             n, t.count(), "later enrolments of the same person"))
    return Prepared("enrolment", t, ctx.source, preset, steps, dictionary="programme enrolment list")


def imd_from_lookup(lookup: Any, source: str, *, n_areas: int = ENGLAND_LSOAS_IMD2019) -> Any:
    """A lookup table (LSOA code and IMD decile, or IMD rank) as ``lsoa, imd_decile`` (engine table)."""
    cols = list(lookup.columns)
    lsoa = find_column(cols, "lsoa", "lsoa_code", "lsoa11cd", "lsoa21cd", "lsoa11", "lsoa21",
                       "LSOA code (2011)", "LSOA code (2021)")
    dec = find_column(cols, "imd_decile", "decile", "imd_2019_decile",
                      "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)")
    rank = find_column(cols, "imd_rank", "rank", "imd_2019_rank",
                       "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)")
    if lsoa is None or (dec is None and rank is None):
        raise DataValidationError(f"{source}: an LSOA lookup needs an LSOA code column (lsoa_code) and "
                                  f"imd_decile or imd_rank; found {', '.join(cols)}")
    code = lookup[lsoa].cast("string").re_replace(r"^\s+|\s+$", "").upper()
    if dec is not None:
        d = lookup[dec].cast("string").re_replace(r"^\s+|\s+$", "").try_cast("int64")
    else:
        r = lookup[rank].cast("string").re_replace(r"^\s+|\s+$", "").try_cast("int64")
        d = ((r - 1) * 10 // n_areas + 1).cast("int64")
    out = lookup.select(lsoa=code, imd_decile=d)
    return out.filter(out.lsoa.notnull()).distinct()


def quintile_from_decile(decile: Any) -> Any:
    """Ibis: IMD quintile (1 = most deprived 20%) from a decile 1-10 (NULL otherwise)."""
    d = decile.cast("string").re_replace(r"^\s+|\s+$", "").try_cast("int64")
    return ibis.ifelse((d >= 1) & (d <= 10), ((d + 1) // 2).cast("int64"), ibis.null().cast("int64"))
