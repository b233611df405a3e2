"""The analysis spec: YAML validated into a frozen pydantic model.

The spec is the pre-agreed analysis plan. Errors name the key path, the value found
and what is allowed (``matching.caliper: expected a number > 0, got -1``); unknown
keys are errors with a did-you-mean; relative paths resolve against the spec file.

Examples
--------
>>> from evaltool.spec import load_spec
>>> spec = load_spec("analyses/southvale.yaml")  # doctest: +SKIP
>>> spec.matching.caliper  # doctest: +SKIP
0.2
"""
from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evaltool.area.config import AreaConfig
from evaltool.economics.config import EconomicsConfig
from evaltool.effects.config import RolloutConfig
from evaltool.engine import EngineConfig, Source
from evaltool.nhs.outcomes import CodedOutcome, check_name
from evaltool.nhs.sources import MappedSource
from evaltool.effects.matched_config import MatchedDidConfig
from evaltool.inputs import CHECK_ACTIONS, DEFAULT_ACTIONS
from evaltool.errors import SpecError
from evaltool.matching.config import MatchingConfig
from evaltool.proms.config import PromsConfig
from evaltool.qual.config import QualConfig
from evaltool.report.rules import DisclosureRules
from evaltool.runlog import display_path
from evaltool.spec_yaml import read_spec_yaml

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSpec(_Strict):
    """The study window: every date in the inputs is read against it."""

    start: date = Field(description="First day of the study window.")
    end: date = Field(description="Last day of the study window (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class DataSpec(_Strict):
    """Input sources: a file path (CSV, CSV.gz, Parquet file or folder, Excel) or a mapping
    (:class:`evaltool.engine.Source`: ``path`` + ``sheet``, or ``duckdb`` + ``table``/``sql``).
    Relative paths resolve against the spec file."""

    population: Path | MappedSource | Source | None = Field(
        None, description="People: person_id, practice_id, sex, birth_date or age, treated, index_date (see the input "
                          "contract), or an NHS extract mapped onto them. Leave out (with `activity`) for an "
                          "area-only evaluation from `area_panel`.")
    activity: Path | MappedSource | Source | list[Path | MappedSource] | None = Field(
        None, description="Events: person_id, date, setting[, bed_days, cost]; or a list of (mapped) extracts.")
    practices: Path | MappedSource | Source | None = Field(
        None, description="Practices: practice_id[, neighbourhood, go_live_date, list_size]; needed for the roll-out "
                          "analysis.")
    proms: Path | Source | None = Field(None, description="PROM responses: person_id, timepoint, instrument, EQ-5D columns.")
    prems: Path | Source | None = Field(None, description="PREM responses: respondent_id, group, survey, item columns.")
    enrolment: Path | MappedSource | None = Field(
        None, description="The programme's enrolment list (NHS number, enrolment date): sets treated/index_date.")
    lsoa_lookup: Path | MappedSource | None = Field(
        None, description="LSOA code -> IMD decile (or rank) lookup, for populations given by LSOA.")
    area_panel: Path | Source | None = Field(
        None, description="Area-by-month panel for whole-area designs: the comparison (donor) areas, and the "
                          "evaluated area too when there are no person-level tables.")

    @property
    def person_level(self) -> bool:
        """True when person-level tables (population and activity) are given; False for an area-only spec."""
        return self.population is not None

    @model_validator(mode="after")
    def _complete(self) -> DataSpec:
        for key in _PATH_KEYS:
            v = getattr(self, key)
            for i, e in enumerate(v if isinstance(v, list) else [v]):
                if isinstance(e, Source):
                    try:
                        e.kind
                    except ValueError as err:
                        raise ValueError(f"{key}{f'[{i}]' if isinstance(v, list) else ''}: {err}") from None
        if isinstance(self.activity, list) and not self.activity:
            raise ValueError("activity: expected at least one source")
        if (self.population is None) != (self.activity is None):
            given, absent = ("population", "activity") if self.activity is None else ("activity", "population")
            raise ValueError(f"{given} is given but {absent} is not: person-level data need both; for an area-only"
                             " evaluation give neither, only `area_panel`")
        if self.population is None:
            if self.area_panel is None:
                raise ValueError("no input data: give `population` and `activity` (person-level data), or "
                                 "`area_panel` (an area-by-month panel) for an area-only evaluation")
            extra = [k for k in _PERSON_KEYS if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} need(s) the person-level tables (`population` and "
                                 "`activity`), which this area-only spec does not give")
        named = [e.name for k in _PATH_KEYS for e in self.sources(k) if e.name]
        dup = sorted({n for n in named if named.count(n) > 1})
        if dup:
            raise ValueError(f"source names must differ (each names its rows in the flows): {', '.join(dup)}")
        return self

    def source(self, key: str) -> Source | None:
        """The entry ``key`` as a :class:`~evaltool.engine.Source` (None when absent; the first of a list)."""
        v = getattr(self, key)
        if isinstance(v, list):
            v = v[0]
        return None if v is None else (v if isinstance(v, Source) else Source(path=v))

    def sources(self, key: str) -> list[Source]:
        """Every source of the entry ``key`` (an activity entry may be a list)."""
        v = getattr(self, key)
        return [e if isinstance(e, Source) else Source(path=e) for e in (v if isinstance(v, list) else [v])
                if e is not None]


class ValidationSpec(_Strict):
    """Per-check action for problems in the input data: ``error`` stops, ``exclude`` drops and counts."""

    actions: dict[str, str] = Field(
        default_factory=dict, description="check -> error | exclude (see the validation checks table).")

    @field_validator("actions")
    @classmethod
    def _known(cls, v: dict[str, str]) -> dict[str, str]:
        for check, action in v.items():
            if check not in CHECK_ACTIONS:
                hint = _did_you_mean(check, CHECK_ACTIONS)
                raise ValueError(f"unknown check {check!r}{hint}; known checks: {', '.join(sorted(CHECK_ACTIONS))}")
            if action not in CHECK_ACTIONS[check]:
                raise ValueError(
                    f"{check}: expected one of {', '.join(CHECK_ACTIONS[check])}, got {action!r}"
                )
        return v

    def action(self, check: str) -> str:
        return self.actions.get(check, DEFAULT_ACTIONS[check])


class CohortSpec(_Strict):
    """Who is evaluated."""

    min_age: int = Field(18, ge=0, le=120, description="Minimum age at index date for the treated.")
    max_age: int | None = Field(None, ge=0, le=130, description="Maximum age at index date for the treated.")
    enrolment_end: date | None = Field(
        None, description="Last index date accepted (leaves follow-up time before the window ends)."
    )


class Deviation(_Strict):
    item: str
    planned: str
    actual: str
    reason: str


# Disclosure rules live with the publication gate (evaltool/report/rules.py): one model, one set of defaults.
DisclosureSpec = DisclosureRules


class NarrativeSpec(_Strict):
    """Evaluators' own words (Markdown files) placed in the report's sections."""

    summary: Path | None = Field(None, description="One paragraph opening the key points (default: the first "
                                                    "paragraph of `programme`).")
    programme: Path | None = Field(None, description="The programme and how it was meant to work.")
    context: Path | None = Field(None, description="Local context (follows the programme description).")
    conclusions: Path | None = Field(None, description="Conclusions and what this means.")
    recommendations: Path | None = Field(None, description="Recommendations.")


class ReportSpec(_Strict):
    formats: tuple[Literal["html", "pdf", "docx", "xlsx"], ...] = Field(
        ("html", "pdf", "docx", "xlsx"), description="Report formats; xlsx is the workbook of published tables.")
    narrative: NarrativeSpec = Field(NarrativeSpec(), description="Markdown files with the evaluators' narrative.")
    brand: Path | None = Field(None, description="A Quarto _brand.yml (logo, colours, fonts, organisation name); "
                                                 "default the NHS identity.")
    logic_model: Path | None = Field(None, description="Logic model: an image (PNG, JPEG, SVG) or a Markdown file.")
    reference_docx: Path | None = Field(None, description="Word reference document (styles) for report.docx.")
    engine: Literal["auto", "quarto", "pandoc"] = Field(
        "auto", description="auto: Quarto when on PATH, otherwise pandoc + Typst.")
    disclosure: DisclosureSpec = DisclosureSpec()
    deviations: tuple[Deviation, ...] = ()


class Spec(_Strict):
    """A validated, frozen analysis spec."""

    name: str = Field(description="Short name: output goes to reports/<name>/.")
    title: str = Field(description="The report's title.")
    programme: str = Field("", description="What the programme is: who is enrolled, by whom, from when.")
    question: str = Field("", description="The evaluation question, in plain English.")
    seed: int = Field(20261122, ge=0, le=2**32 - 1, description="Random seed: same spec, data and seed give "
                                                                "identical results tables.")
    window: WindowSpec = Field(description="The study window.")
    data: DataSpec = Field(description="The input files.")
    validation: ValidationSpec = ValidationSpec()
    engine: EngineConfig = EngineConfig()
    cohort: CohortSpec = CohortSpec()
    matching: MatchingConfig | None = None
    effects: MatchedDidConfig | None = None
    rollout: RolloutConfig | None = None
    proms: PromsConfig | None = None
    qualitative: QualConfig | None = None
    economics: EconomicsConfig | None = None
    area: AreaConfig | None = None
    coded_outcomes: dict[str, CodedOutcome] = Field(
        default_factory=dict, description="Outcomes found from diagnosis code lists or the time before death "
        "(evaltool.nhs.outcomes); each becomes an activity setting the effects section can analyse.")
    report: ReportSpec = ReportSpec()
    output_dir: Path = Field(Path("reports"), description="Bundles go to <output_dir>/<name>/.")
    allow_partial: bool = Field(
        False, description="Accept a run in which a planned analysis could not be produced: exit 0 instead of 3. "
                           "The failures are still printed, logged and reported.")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                f"expected letters, digits, '_' or '-' (at most 64, starting with a letter or digit), got {v!r}"
            )
        return v

    @field_validator("coded_outcomes")
    @classmethod
    def _coded_names(cls, v: dict[str, CodedOutcome]) -> dict[str, CodedOutcome]:
        from evaltool.effects.panels import OUTCOMES

        for name in v:
            check_name(name)
            if name in OUTCOMES:
                raise ValueError(f"coded outcome {name!r} has the name of a built-in outcome; choose another")
        return v

    @model_validator(mode="after")
    def _area_only(self) -> Spec:
        if self.data.person_level:
            return self
        person = [k for k in ("matching", "effects", "rollout", "proms", "economics") if getattr(self, k) is not None]
        if self.coded_outcomes:
            person.append("coded_outcomes")
        if person:
            raise ValueError(f"{', '.join(person)}: need(s) the person-level tables (`data.population` and "
                             "`data.activity`); this spec gives only `data.area_panel` (an area-only evaluation, which"
                             " runs the `area` section)")
        if self.area is None:
            raise ValueError("data gives only `area_panel`: add an `area` section (at least `treated_area`) to say "
                             "which area was evaluated")
        if self.area.build_from_person_data:
            raise ValueError("area.build_from_person_data: true needs `data.population` and `data.activity`; with only"
                             " `data.area_panel` the evaluated area's series must be in the panel (set it to false)")
        return self

    @model_validator(mode="after")
    def _coded_used(self) -> Spec:
        if self.effects is not None:
            extra = [o for o in self.effects.coded_measures if o not in self.coded_outcomes]
            if extra:
                raise ValueError(f"effects.coded_measures names {extra}, which are not under `coded_outcomes`")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        """The resolved spec as JSON-able data (paths as strings)."""
        return self.model_dump(mode="json")


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at ``loc`` (for did-you-mean on unknown keys)."""
    import typing

    model: Any = Spec
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        found = None
        for cand in (ann, *typing.get_args(ann)):
            for c in (cand, *typing.get_args(cand)):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    found = c
        model = found
    return model


def _describe(value: Any) -> str:
    # reprlib bounds the work: a value built from YAML aliases is never expanded in full.
    import reprlib

    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict, r.maxlevel = 50, 50, 4, 4, 2
    text = r.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_validation_error(err: ValidationError, source: str) -> str:
    """Turn pydantic errors into one line per problem: ``path: expected ..., got ...``."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        typ = e["type"]
        if typ == "extra_forbidden":
            model = _model_at(loc)
            hint = _did_you_mean(loc[-1], model.model_fields) if model else ""
            allowed = f"; allowed keys: {', '.join(model.model_fields)}" if model else ""
            lines.append(f"{path}: unknown key{hint}{allowed}")
        elif typ == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            ctx = e.get("ctx") or {}
            if typ in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
                bound = next(iter(ctx.values()))
                op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[typ]
                msg = f"expected a number {op} {bound}"
            elif typ == "literal_error":
                msg = f"expected {ctx.get('expected', 'one of the allowed values')}"
            elif typ in {"int_parsing", "int_type", "float_parsing", "float_type"}:
                msg = "expected a number"
            elif typ in {"date_from_datetime_parsing", "date_parsing", "date_type"}:
                msg = "expected a date YYYY-MM-DD"
            # Module validators may already name the field and the value found: don't say it twice.
            prefix = f"{loc[-1]}: " if loc else ""
            if prefix and msg.startswith(prefix):
                msg = msg[len(prefix):]
            got = "" if ", got " in msg or isinstance(e.get("input"), (dict, list)) else \
                f", got {_describe(e.get('input'))}"
            lines.append(f"{path}: {msg}{got}")
    return f"{source}: invalid spec\n" + "\n".join(f"  - {x}" for x in lines)


_PATH_KEYS = ("population", "activity", "practices", "proms", "prems", "area_panel", "enrolment", "lsoa_lookup")
#: Entries under `data:` that only make sense with the person-level tables.
_PERSON_KEYS = ("practices", "proms", "prems", "enrolment", "lsoa_lookup")
#: File keys of the `qualitative` section (they resolve against the spec file too).
QUAL_PATH_KEYS = ("codebook", "segments", "participants", "redaction_list", "analyst_summaries")
#: File keys of the `economics` section.
ECONOMICS_PATH_KEYS = ("unit_cost_table",)


def _resolve(path: str, base: Path) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else (base / p))


def _coded_words(coded: dict[str, Any]) -> dict[str, str]:
    """Words for each coded outcome's events in the effects stage's messages (invalid entries are left to
    the spec's own validation, which reports them)."""
    from evaltool.nhs.outcomes import outcome_words

    out = {}
    for k, v in coded.items():
        try:
            lab = outcome_words(k, CodedOutcome.model_validate(v))["label"]
        except Exception:  # noqa: BLE001 - the coded_outcomes section's validation says what is wrong
            continue
        out[k] = lab if len(lab) > 1 and lab[1].isupper() else lab[:1].lower() + lab[1:]
    return out


def parse_spec(raw: dict[str, Any], base_dir: Path | str = ".", source: str = "<spec>") -> Spec:
    """Validate a spec given as a mapping; relative paths resolve against ``base_dir``."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a YAML mapping at the top level, got {type(raw).__name__}")
    raw = dict(raw)
    bad = _non_finite(raw)
    if bad:
        raise SpecError(f"{source}: invalid spec\n" + "\n".join(
            f"  - {p}: expected a finite number, got {v}" for p, v in bad[:20]))
    base = Path(base_dir)
    for section, keys in (("data", _PATH_KEYS), ("qualitative", QUAL_PATH_KEYS), ("economics", ECONOMICS_PATH_KEYS)):
        if isinstance(raw.get(section), dict):
            raw[section] = {k: (_resolve(v, base) if k in keys and isinstance(v, str) else v)
                            for k, v in raw[section].items()}
    if isinstance(raw.get("data"), dict):
        # Mapping sources (and lists of them): their file keys resolve against the spec too.
        def res(v: Any) -> Any:
            if isinstance(v, dict):
                return {kk: (_resolve(vv, base) if kk in ("path", "duckdb") and isinstance(vv, str) else vv)
                        for kk, vv in v.items()}
            if isinstance(v, str):
                return _resolve(v, base)
            return v

        raw["data"] = {k: ([res(e) for e in v] if isinstance(v, list) else res(v)) if k in _PATH_KEYS else v
                       for k, v in raw["data"].items()}
    if (isinstance(raw.get("area"), dict) and "build_from_person_data" not in raw["area"]
            and isinstance(raw.get("data"), dict)):
        # The evaluated area's series comes from the person-level tables when there are any, else from the panel.
        raw["area"] = {**raw["area"], "build_from_person_data": raw["data"].get("population") is not None}
    if isinstance(raw.get("coded_outcomes"), dict) and isinstance(raw.get("effects"), dict):
        # The effects section learns which of its outcomes are coded, and what each sums.
        outs = raw["effects"].get("outcomes") or ()
        raw["effects"] = {**raw["effects"], "coded_measures": {
            k: (v.get("measure", "count") if isinstance(v, dict) else "count")
            for k, v in raw["coded_outcomes"].items() if isinstance(outs, (list, tuple)) and k in outs},
            "coded_words": _coded_words(raw["coded_outcomes"])}
    if isinstance(raw.get("coded_outcomes"), dict):
        raw["coded_outcomes"] = {
            k: ({**v, "codelist": {**v["codelist"], "path": _resolve(v["codelist"]["path"], base)}}
                if isinstance(v, dict) and isinstance(v.get("codelist"), dict)
                and isinstance(v["codelist"].get("path"), str) else v)
            for k, v in raw["coded_outcomes"].items()}
    if isinstance(raw.get("engine"), dict) and isinstance(raw["engine"].get("temp_directory"), str):
        raw["engine"] = {**raw["engine"], "temp_directory": _resolve(raw["engine"]["temp_directory"], base)}
    rep = raw.get("report")
    if isinstance(rep, dict):
        rep = dict(rep)
        for k in ("brand", "logic_model", "reference_docx"):
            if isinstance(rep.get(k), str):
                rep[k] = _resolve(rep[k], base)
        if isinstance(rep.get("narrative"), dict):
            rep["narrative"] = {k: (_resolve(v, base) if isinstance(v, str) else v)
                                for k, v in rep["narrative"].items()}
        raw["report"] = rep
    prem = raw.get("proms", {}).get("prem_surveys") if isinstance(raw.get("proms"), dict) else None
    if isinstance(prem, dict):
        # Item maps given as YAML files resolve against the spec file like every other path.
        raw["proms"] = {**raw["proms"], "prem_surveys": {
            k: (_resolve(v, base) if isinstance(v, str) and v.lower().endswith((".yaml", ".yml")) else v)
            for k, v in prem.items()}}
    if isinstance(raw.get("output_dir"), str):
        raw["output_dir"] = _resolve(raw["output_dir"], base)
    else:
        raw.setdefault("output_dir", str(base.parent / "reports" if base.name == "analyses" else base / "reports"))
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, source)) from None
    _check_files(spec, source)
    _check_joint_display(spec, source)
    return spec


def _check_joint_display(spec: Spec, source: str) -> None:
    """Joint-display rows name published facts by stable keys: check each against the plan now."""
    if spec.qualitative is None:
        return
    from evaltool.qual.joint import check_quant_key

    outs = tuple(spec.effects.outcomes) if spec.effects is not None else ()
    subs = tuple(spec.effects.subgroups) if spec.effects is not None else ()
    ro = tuple(spec.rollout.outcomes) if spec.rollout is not None else ()
    bad = []
    for i, e in enumerate(spec.qualitative.joint_display):
        if e.quant_key:
            why = check_quant_key(e.quant_key, outs, subs, ro)
            if why:
                bad.append(f"  - qualitative.joint_display[{i}].quant_key: {why}, got {e.quant_key!r}")
    if bad:
        raise SpecError(f"{source}: invalid spec\n" + "\n".join(bad))


def _non_finite(obj: Any, path: str = "") -> list[tuple[str, str]]:
    """Key paths of infinite or NaN numbers (YAML ``.inf``, ``.nan``, ``1e999``): never meaningful in a plan."""
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return [(path or "(top level)", repr(obj))]
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, list):
        return [x for i, v in enumerate(obj) for x in _non_finite(v, f"{path}.{i}")]
    return []


def _check_files(spec: Spec, source: str) -> None:
    missing = []
    for key in _PATH_KEYS:
        for src in spec.data.sources(key):
            kind = src.kind
            p = src.path if kind == "file" else src.duckdb if kind == "duckdb" else None
            if p is not None and not Path(p).exists():
                missing.append(f"  - data.{key}: file not found: {display_path(p)}")
            elif p is not None and not Path(p).is_file():
                missing.append(f"  - data.{key}: is a folder, not a file: {display_path(p)}")
    for name, oc in spec.coded_outcomes.items():
        p = getattr(oc.codelist, "path", None)
        if p is not None and not Path(p).exists():
            missing.append(f"  - coded_outcomes.{name}.codelist: file not found: {display_path(p)}")
    for key in QUAL_PATH_KEYS if spec.qualitative is not None else ():
        p = getattr(spec.qualitative, key)
        if p is not None and not Path(p).exists():
            missing.append(f"  - qualitative.{key}: file not found: {display_path(p)}")
        elif p is not None and not Path(p).is_file():
            missing.append(f"  - qualitative.{key}: is a folder, not a file: {display_path(p)}")
    for key in ECONOMICS_PATH_KEYS if spec.economics is not None else ():
        p = getattr(spec.economics, key)
        if p is not None and not Path(p).exists():
            missing.append(f"  - economics.{key}: file not found: {display_path(p)}")
    if spec.economics is not None and spec.effects is None:
        missing.append("  - economics: needs the `effects` section (the matched comparison it costs)")
    rep = spec.report
    for key, p in [("brand", rep.brand), ("logic_model", rep.logic_model), ("reference_docx", rep.reference_docx),
                   *((f"narrative.{k}", v) for k, v in rep.narrative.model_dump().items())]:
        if p is not None and not Path(p).is_file():
            missing.append(f"  - report.{key}: file not found: {display_path(p)}")
    if missing:
        raise SpecError(f"{source}: invalid spec\n" + "\n".join(missing))


def load_spec(path: str | Path) -> Spec:
    """Read and validate a YAML spec file.

    Examples
    --------
    >>> spec = load_spec("analyses/southvale.yaml")  # doctest: +SKIP
    >>> spec.name  # doctest: +SKIP
    'southvale'
    """
    path = Path(path)
    raw = read_spec_yaml(path)
    return parse_spec(raw, base_dir=path.resolve().parent, source=str(path))
