"""Code lists: published lists shipped with their provenance, and lists users add in the spec.

A code list is a set of conditions, each defined by ICD-10 (or SNOMED CT) codes, with how it is
applied: which diagnosis position (``primary`` = first diagnosis of the spell, ``any``), which
spells (``emergency``, ``elective``, ``all``), a minimum age, and for scores the weights of each
condition, the hierarchy between conditions and the look-back before the index date. The shipped
lists live in ``evaltool/data/codelists`` (``codelists.yaml`` says where each comes from);
:func:`shipped` lists them and :func:`get` returns one. A user's list is a CSV with a ``code``
column (and optionally ``condition`` and ``with_secondary``), read by :func:`from_csv`.

Matching runs in the engine (:func:`match_spells`): diagnoses are one row per spell and position,
joined to the list's codes on their three- or four-character form (see :mod:`evaltool.nhs.codes`).

Examples
--------
>>> acs = get("acs_chronic")
>>> acs.position, acs.admissions, "J45" in acs.codes("asthma")
('primary', 'emergency', True)
>>> expand_codes("E10.0-E10.2")
['E100', 'E101', 'E102']
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from evaltool.errors import DataValidationError, SpecError
from evaltool.nhs.codes import normalise_icd10, normalise_snomed

__all__ = ["CodeList", "Entry", "expand_codes", "from_csv", "get", "shipped", "match_spells", "spell_flags"]

_RANGE = re.compile(r"^([A-Z])(\d{2})(?:\.?(\d))?-([A-Z])(\d{2})(?:\.?(\d))?$")
POSITIONS = ("primary", "any")
ADMISSIONS = ("emergency", "elective", "all")


@dataclass(frozen=True)
class Entry:
    """One code of a condition (normalised), and the codes one of which must be in another position."""

    condition: str
    code: str
    with_secondary: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeList:
    """A list of conditions defined by codes, and how it is applied (see module docstring)."""

    name: str
    title: str
    entries: tuple[Entry, ...]
    short: str = ""  # a short label for tables (outcome lists)
    kind: str = "outcome"  # outcome | score
    coding: str = "icd10"  # icd10 | snomed
    position: str = "any"
    admissions: str = "all"
    min_age: int | None = None
    lookback_days: int | None = None
    code_length: int | None = None  # 3: match on the three-character category only (HFRS)
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    default_scheme: str | None = None
    hierarchy: tuple[tuple[str, str], ...] = ()
    version: str = ""
    source: str = ""
    url: str = ""
    notes: str = ""
    origin: str = ""  # "shipped" or the user's file
    sha256: str = ""

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.condition for e in self.entries))

    def codes(self, condition: str | None = None) -> set[str]:
        """The (normalised) codes of one condition, or of all."""
        return {e.code for e in self.entries if condition is None or e.condition == condition}

    def scheme_weights(self, scheme: str | None = None) -> dict[str, float]:
        """``condition -> weight`` of a scheme (default: the list's default scheme)."""
        s = scheme or self.default_scheme
        if s not in self.weights:
            raise SpecError(f"code list `{self.name}` has no weighting scheme {s!r}; "
                            f"choose from {sorted(self.weights)}")
        return dict(self.weights[s])

    def provenance(self) -> dict[str, Any]:
        """What the manifest records about this list."""
        return {"name": self.name, "title": self.title, "version": self.version, "source": self.source,
                "url": self.url, "origin": self.origin, "sha256": self.sha256, "n_codes": len(self.entries),
                "conditions": list(self.conditions), "position": self.position, "admissions": self.admissions}


def expand_codes(spec: str, coding: str = "icd10") -> list[str]:
    """Normalised codes of one code-list cell: a code (``J44``, ``J44.1``) or a range within a letter
    (``J41-J44``, ``E10.0-E10.8``); ranges of four-character codes stay within one category.

    Examples
    --------
    >>> expand_codes("J41-J44"), expand_codes("I10X")
    (['J41', 'J42', 'J43', 'J44'], ['I10'])
    """
    s = spec.strip().upper().replace(" ", "")
    if coding == "snomed":
        code = normalise_snomed(s)
        if code is None:
            raise ValueError(f"not a SNOMED CT concept id: {spec!r}")
        return [code]
    m = _RANGE.match(s.replace("–", "-"))
    if m:
        l1, n1, d1, l2, n2, d2 = m.groups()
        if l1 != l2 or (d1 is None) != (d2 is None):
            raise ValueError(f"a range must stay within one letter and one code length: {spec!r}")
        if d1 is None:
            lo, hi = int(n1), int(n2)
            if hi < lo:
                raise ValueError(f"range runs backwards: {spec!r}")
            return [f"{l1}{k:02d}" for k in range(lo, hi + 1)]
        if n1 != n2 or int(d2) < int(d1):
            raise ValueError(f"a range of four-character codes must stay within one category: {spec!r}")
        return [f"{l1}{n1}{k}" for k in range(int(d1), int(d2) + 1)]
    code = normalise_icd10(s)
    if code is None or "-" in s:
        raise ValueError(f"not an ICD-10 code or range: {spec!r}")
    return [code]


def _entries(rows: Iterable[Mapping[str, str]], coding: str, where: str, default_condition: str,
             code_length: int | None = None) -> tuple[Entry, ...]:
    out: list[Entry] = []
    bad: list[str] = []
    for i, r in enumerate(rows, start=2):
        raw = (r.get("code") or "").strip()
        if not raw:
            continue
        cond = (r.get("condition") or r.get("name") or default_condition).strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", cond):
            bad.append(f"row {i}: condition {cond!r} (use lower-case letters, digits and _)")
            continue
        try:
            codes = expand_codes(raw, coding)
            sec = tuple(c for part in (r.get("with_secondary") or "").split() for c in expand_codes(part, coding))
        except ValueError as err:
            bad.append(f"row {i}: {err}")
            continue
        for c in codes:
            if code_length:
                c = c[:code_length]
            if set(sec) & {c}:
                bad.append(f"row {i}: {c} is both the code and one of its required secondary codes")
            out.append(Entry(cond, c, sec))
    if bad:
        raise DataValidationError(f"{where}: {len(bad)} unusable code(s):\n" + "\n".join(f"  - {b}" for b in bad[:10]))
    if not out:
        raise DataValidationError(f"{where}: no codes found (expected a `code` column with ICD-10 or SNOMED codes)")
    # One entry per (condition, code, secondary), in file order.
    return tuple(dict.fromkeys(out))


def _read_csv_text(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{(k or "").strip().lower(): (v or "") for k, v in r.items()} for r in rows]


@lru_cache(maxsize=1)
def _registry() -> dict[str, dict[str, Any]]:
    text = resources.files("evaltool").joinpath("data", "codelists", "codelists.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=None)
def _load_shipped(name: str) -> CodeList:
    meta = dict(_registry()[name])
    folder = resources.files("evaltool").joinpath("data", "codelists")
    text = folder.joinpath(f"{name}.csv").read_text(encoding="utf-8")
    h = hashlib.sha256(text.encode())
    weights: dict[str, dict[str, float]] = {}
    if meta.get("kind") == "score":
        wtext = folder.joinpath(f"{name}_weights.csv").read_text(encoding="utf-8")
        h.update(wtext.encode())
        for r in _read_csv_text(wtext):
            weights.setdefault(r["scheme"], {})[r["condition"]] = float(r["weight"])
    cl = CodeList(
        name=name, title=meta["title"], short=str(meta.get("short", "")),
        entries=_entries(_read_csv_text(text), meta.get("coding", "icd10"), f"codelists/{name}.csv", name,
                         meta.get("code_length")),
        kind=meta.get("kind", "outcome"), coding=meta.get("coding", "icd10"), position=meta.get("position", "any"),
        admissions=meta.get("admissions", "all"), min_age=meta.get("min_age"),
        lookback_days=meta.get("lookback_days"), code_length=meta.get("code_length"), weights=weights,
        default_scheme=meta.get("default_scheme"),
        hierarchy=tuple(tuple(p) for p in meta.get("hierarchy", ())),  # type: ignore[misc]
        version=str(meta.get("version", "")), source=" ".join(str(meta.get("source", "")).split()),
        url=str(meta.get("url", "")), notes=" ".join(str(meta.get("notes", "")).split()), origin="shipped",
        sha256=h.hexdigest(),
    )
    missing = [c for c in cl.conditions if weights and any(c not in w for w in weights.values())]
    if missing:  # a packaging error, not a user error
        raise RuntimeError(f"code list {name}: conditions without weights: {missing}")
    return cl


def shipped() -> dict[str, CodeList]:
    """Every code list shipped with evaltool, by name.

    Examples
    --------
    >>> sorted(shipped())
    ['acs_acute', 'acs_bardsley', 'acs_chronic', 'charlson', 'elixhauser', 'falls_fractures', 'hfrs']
    """
    return {name: _load_shipped(name) for name in _registry()}


def get(name: str) -> CodeList:
    """A shipped code list by name (a clear error naming the choices otherwise)."""
    if name not in _registry():
        raise SpecError(f"unknown code list `{name}`; shipped lists: {', '.join(sorted(_registry()))} "
                        "(or give a CSV file with `path:`)")
    return _load_shipped(name)


def from_csv(path: str | Path, name: str, *, coding: str = "icd10", position: str = "any",
             admissions: str = "all", min_age: int | None = None, title: str | None = None) -> CodeList:
    """A user's code list: a CSV with a ``code`` column (ICD-10 or SNOMED CT), optionally ``condition``
    (default: the list's name) and ``with_secondary`` (codes one of which must be in another position).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "frailty.csv"
    >>> _ = p.write_text("code,condition\\nR54,frailty\\nW19,falls\\n")
    >>> from_csv(p, "frailty_codes").conditions
    ('frailty', 'falls')
    """
    if coding not in ("icd10", "snomed"):
        raise SpecError(f"code list `{name}`: coding must be icd10 or snomed, got {coding!r}")
    if position not in POSITIONS or admissions not in ADMISSIONS:
        raise SpecError(f"code list `{name}`: position must be one of {POSITIONS} and admissions one of {ADMISSIONS}")
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise DataValidationError(f"{p}: cannot read the code list ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataValidationError(f"{p}: the code list is not UTF-8 text") from None
    rows = _read_csv_text(text)
    if rows and "code" not in rows[0]:
        raise DataValidationError(f"{p}: needs a `code` column; found {', '.join(rows[0]) or 'no columns'}")
    return CodeList(name=name, title=title or name.replace("_", " "),
                    entries=_entries(rows, coding, str(p), name), coding=coding, position=position,
                    admissions=admissions, min_age=min_age, version="user-supplied", source=str(p.name),
                    origin=str(p), sha256=hashlib.sha256(raw).hexdigest())


# ------------------------------------------------------------------------------------------------
# Matching in the engine
# ------------------------------------------------------------------------------------------------
def _entry_table(cl: CodeList) -> Any:
    import ibis
    import pandas as pd

    rows = [{"_cond": e.condition, "_code": e.code, "_len": len(e.code), "_eid": i, "_nsec": len(e.with_secondary)}
            for i, e in enumerate(cl.entries)]
    sec = [{"_eid": i, "_code": c, "_len": len(c)} for i, e in enumerate(cl.entries) for c in e.with_secondary]
    ent = ibis.memtable(pd.DataFrame(rows).astype({"_len": "int64", "_eid": "int64", "_nsec": "int64"}))
    sect = ibis.memtable(pd.DataFrame(sec, columns=["_eid", "_code", "_len"]).astype({"_eid": "int64", "_len": "int64"}))
    return ent, sect


def _join_codes(diag: Any, ent: Any, coding: str, code_length: int | None) -> Any:
    """Diagnosis rows joined to list entries on the entry's length (prefix match)."""
    if coding == "snomed":
        j = diag.inner_join(ent, diag.code == ent._code)
        return j
    if code_length == 3:
        return diag.inner_join(ent, diag.code.substr(0, 3) == ent._code)
    three = ent.filter(ent._len == 3)
    four = ent.filter(ent._len == 4)
    a = diag.inner_join(three, diag.code.substr(0, 3) == three._code)
    b = diag.inner_join(four, diag.code == four._code)
    return a.union(b, distinct=False)


def match_spells(diagnoses: Any, cl: CodeList, *, first_episode: bool = True) -> Any:
    """``(spell_id, condition)`` for every spell where a condition of ``cl`` is recorded as the list says.

    ``diagnoses`` has one row per spell and diagnosis: ``spell_id``, ``position`` (1 = primary) and
    ``code`` (normalised, :func:`evaltool.nhs.codes.icd10_expr`), and optionally ``first`` (the row
    comes from the spell's first episode). With ``first_episode`` (outcome lists, as HES counts
    admissions) only the first episode's diagnoses are read; scores read every episode. Rows with
    ``with_secondary`` codes count only when one of those codes is in another position of the
    same spell.
    """
    d = diagnoses
    if first_episode and "first" in d.columns:
        d = d.filter(d["first"])
    d = d.select("spell_id", "position", "code").filter(d.code.notnull())
    ent, sect = _entry_table(cl)
    hit = _join_codes(d, ent, cl.coding, cl.code_length)
    if cl.position == "primary":
        hit = hit.filter(hit.position == 1)
    hit = hit.select("spell_id", "_eid", "_cond", "_nsec", _pos="position")
    plain = hit.filter(hit._nsec == 0).select("spell_id", condition="_cond")
    needs = hit.filter(hit._nsec > 0)
    sec = _join_codes(d, sect, cl.coding, None).select("spell_id", "_eid", _spos="position")
    ok = needs.inner_join(sec, [needs.spell_id == sec.spell_id, needs._eid == sec._eid, needs._pos != sec._spos])
    both = plain.union(ok.select("spell_id", condition="_cond"), distinct=False)
    return both.distinct()


def spell_flags(diagnoses: Any, cl: CodeList, *, first_episode: bool = True) -> Any:
    """``spell_id`` of the spells matching any condition of ``cl`` (one row each)."""
    return match_spells(diagnoses, cl, first_episode=first_episode).select("spell_id").distinct()
