"""What every preset shares: the context it runs in, what it returns, and counted steps."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis

from evaltool.errors import DataValidationError
from evaltool.nhs.mapping import MapStep, SourceMapping, date_expr, find_column, person_id_expr

Persist = Callable[[Any, str], Any]


@dataclass
class PendingStep:
    """A step whose counts are still engine expressions (scalars); :func:`resolve` runs them."""

    step: str
    description: str
    unit: str
    n_in: Any
    n_out: Any
    reason: str = ""
    always: bool = False  # report even when nothing changed
    n_affected: Any = 0  # rows recoded or derived (kept), as an engine scalar or int


@dataclass
class Prepared:
    """A source turned into a contract-shaped table, with its counted steps and by-products.

    ``kind`` is the contract table it feeds: ``activity``, ``population`` or ``enrolment``.
    ``extras``: engine tables other stages use (``diagnoses``: one row per spell and diagnosis;
    ``deaths``: ``person_id, death_date`` from hospital discharges; ``spells``).
    """

    kind: str
    table: Any
    source: str
    preset: str | None
    steps: list[PendingStep] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dictionary: str = ""


@dataclass
class Context:
    """Where a preset runs: the raw table, the resolved columns and the user's mapping keys."""

    raw: Any
    source: str
    mapping: SourceMapping
    persist: Persist
    cols: dict[str, str] = field(default_factory=dict)

    def column(self, role: str, *candidates: str) -> str | None:
        """The source column for ``role``: the user's ``columns:`` entry, else the first candidate present."""
        user = self.mapping.columns.get(role)
        if user is not None:
            c = find_column(list(self.raw.columns), user)
            if c is None:
                raise DataValidationError(
                    f"{self.source}: `columns: {{{role}: {user}}}` names a column that is not there; "
                    f"found {', '.join(self.raw.columns)}")
            return c
        return find_column(list(self.raw.columns), role, *candidates)

    def resolve(self, fields: dict[str, tuple[str, ...]], required: tuple[str, ...]) -> dict[str, str]:
        out, missing = {}, []
        for role, cands in fields.items():
            c = self.column(role, *cands)
            if c is not None:
                out[role] = c
            elif role in required:
                missing.append(f"`{role}` (a column named {' or '.join(cands[:4])})")
        if missing:
            raise DataValidationError(
                f"{self.source}: required column(s) not found: {'; '.join(missing)}. Found: "
                f"{', '.join(self.raw.columns)}. Name the column under `columns:` in the spec, "
                "e.g. `columns: {" + missing[0].split('`')[1] + ": YOUR_COLUMN}`.")
        self.cols = out
        return out

    def date(self, t: Any, role: str) -> Any:
        return date_expr(t[self.cols[role]], self.mapping.date_format_for(role) or self.mapping.date_format_for("*"))

    def text(self, t: Any, role: str) -> Any:
        """Trimmed, upper-cased text of a code column (NULL when blank or absent)."""
        if role not in self.cols:
            return ibis.null().cast("string")
        return t[self.cols[role]].cast("string").re_replace(r"^\s+|\s+$", "").upper().nullif("")


def code_in(col: Any, codes: tuple[str, ...]) -> Any:
    """``col`` (trimmed text) is one of ``codes``; codes may be written with or without a leading zero."""
    alts = set()
    for c in codes:
        alts.add(c)
        if c.isdigit():
            alts.add(str(int(c)))
    return col.isin(sorted(alts)).fill_null(False)


def free_names(t: Any, names: Any, keep: tuple[str, ...] = ()) -> Any:
    """``t`` with source columns renamed ``_src_<name>`` where they would clash (engines compare
    column names case-insensitively) with columns a preset is about to create."""
    low = {str(n).lower() for n in names}
    clash = {f"_src_{c}": c for c in t.columns if c.lower() in low and c not in keep}
    return t.rename(clash) if clash else t


def person_ids(ctx: Context, t: Any, steps: list[PendingStep], unit: str, *, is_nhs_number: bool) -> Any:
    """``t`` with ``person_id`` (normalised NHS number or token); rows failing the check removed and
    counted (or an error, as the spec's ``nhs_number.invalid`` says)."""
    policy = ctx.mapping.nhs_policy
    src = t[ctx.cols["person"]]
    pid, _ = person_id_expr(src, policy, is_nhs_number=is_nhs_number)
    t = t.mutate(_pid_new=pid)
    # The check reads the normalised column (computed once per row), not the expression again.
    t = t.mutate(_id_ok=person_id_expr(t._pid_new, policy, is_nhs_number=is_nhs_number, normalised=True)[1])
    t = free_names(t, ["person_id"]).rename(person_id="_pid_new")
    n_bad = t.filter(~t._id_ok).count()
    what = ("NHS number missing or failing the Modulus 11 check" if is_nhs_number and policy.check == "validate"
            else "person identifier missing")
    if policy.invalid == "error":
        n = int(n_bad.execute()) if hasattr(n_bad, "execute") else 0
        if n:
            raise DataValidationError(
                f"{ctx.source}, column `{ctx.cols['person']}`: {n} row(s) with the {what}. Fix the extract, or set "
                "`nhs_number: {invalid: exclude}` for this source to exclude them (they are counted).")
    steps.append(PendingStep("invalid_nhs_number" if is_nhs_number else "missing_person_id",
                             f"{unit.capitalize()} with the {what} (excluded)", unit, t.count(),
                             t.filter(t._id_ok).count(), what))
    return t.filter(t._id_ok).drop("_id_ok")


def dedupe(t: Any, key: list[str], order: list[Any]) -> Any:
    """One row per ``key`` (the first by ``order``, then by every column, so engines agree)."""
    w = ibis.window(group_by=[t[k] for k in key], order_by=order)
    t = t.mutate(_dup=ibis.row_number().over(w))
    return t.filter(t._dup == 0).drop("_dup")


def resolve(prepared: Prepared, execute: Callable[[Any], Any]) -> list[MapStep]:
    """Run the pending counts (one query each) and return the steps that changed something."""
    out = []

    def n(x: Any) -> int:
        return x if isinstance(x, int) else int(execute(x))

    for s in prepared.steps:
        n_in, n_out, n_aff = n(s.n_in), n(s.n_out), n(s.n_affected)
        if n_in != n_out or n_aff or s.always:
            out.append(MapStep(prepared.source, s.step, s.description, s.unit, n_in, n_out, s.reason, n_aff))
    return out
