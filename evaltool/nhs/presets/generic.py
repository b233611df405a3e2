"""A source shaped like the contract but named or coded differently: ``columns``, ``values``,
``date_format`` and ``nhs_number`` applied, every recode counted."""
from __future__ import annotations

from typing import Any

from evaltool.errors import DataValidationError
from evaltool.nhs.mapping import date_expr, find_column, recode_expr, recoded_flag
from evaltool.nhs.presets.base import Context, PendingStep, Prepared, person_ids

_DATES = {"population": ("birth_date", "index_date", "registration_start", "registration_end", "death_date"),
          "activity": ("date",), "practices": ("go_live_date",)}


def build_generic(ctx: Context, feeds: str) -> Prepared:
    """Rename (``columns``), recode (``values``), read dates (``date_format``) and check person ids."""
    raw = ctx.raw
    cols = list(raw.columns)
    rename: dict[str, str] = {}
    for target, src in ctx.mapping.columns.items():
        c = find_column(cols, src)
        if c is None:
            raise DataValidationError(f"{ctx.source}: `columns: {{{target}: {src}}}` names a column that is not "
                                      f"there; found {', '.join(cols)}")
        rename[target] = c
    # Columns not renamed keep their names (the contract's checks report what is missing).
    targets = {k.lower() for k in rename}
    m: dict[str, Any] = {c: raw[c] for c in cols
                         if (c not in rename.values() or c in rename) and c.lower() not in targets}
    for target, c in rename.items():
        m[target] = raw[c]
    t = raw.select(**m)
    n0 = t.count()
    unit = {"population": "people", "activity": "activity rows", "practices": "practices"}.get(feeds, "rows")
    steps = [PendingStep("rows", f"{unit.capitalize()} in {ctx.source}", unit, n0, n0, always=True)]
    if ctx.mapping.nhs_number is not None and "person_id" in t.columns:
        ctx.cols["person"] = "person_id"
        ctx_raw = ctx.raw
        ctx.raw = t
        t = person_ids(ctx, t, steps, unit, is_nhs_number=True)
        ctx.raw = ctx_raw
    upd: dict[str, Any] = {}
    for col, vals in ctx.mapping.values.items():
        if col not in t.columns:
            raise DataValidationError(f"{ctx.source}: `values:` recodes `{col}`, which the table does not have")
        n_rec = t.filter(recoded_flag(t[col], vals)).count()
        steps.append(PendingStep(f"recoded_{col}", f"Values of `{col}` recoded ({len(vals)} codes mapped)", unit,
                                 t.count(), t.count(), "values: mapping in the spec", n_affected=n_rec))
        upd[col] = recode_expr(t[col], vals)
    for c in _DATES.get(feeds, ()):
        fmt = ctx.mapping.date_format_for(c)
        if c in t.columns and fmt:
            upd[c] = date_expr(t[c], fmt)
            bad = t.filter(t[c].cast("string").re_replace(r"^\s+|\s+$", "").nullif("").notnull()
                           & date_expr(t[c], fmt).isnull()).count()
            steps.append(PendingStep(f"unreadable_{c}", f"`{c}` not a date written as {fmt}: set to missing", unit,
                                     t.count(), t.count(), f"expected {fmt}", n_affected=bad))
    if upd:
        t = t.mutate(**upd)
    t = ctx.persist(t, f"mapped_{feeds}")
    return Prepared(feeds, t, ctx.source, None, steps, dictionary="spec mapping")
