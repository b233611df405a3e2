"""Presets for standard NHS extracts: functions from a raw Ibis table to a contract-shaped Ibis table.

=========  ==========  ===========================================================================
preset     feeds       what it reads
=========  ==========  ===========================================================================
hes_apc    activity    HES Admitted Patient Care episodes -> spells (emergency, elective, care-home)
sus_apc    activity    SUS APC episodes (SUS+ / NCDR field names) -> spells, as hes_apc
hes_op     activity    HES Outpatients: attended appointments
sus_op     activity    SUS Outpatients: attended appointments
ecds       activity    Emergency Care Data Set: unplanned attendances
hes_ae     activity    HES A&E (to 2019/20): first and unplanned follow-up attendances
gp_list    population  GP registration list (NHS number, ODS practice, dates, sex, LSOA)
enrolment  enrolment   the programme's caseload: NHS number and enrolment date
=========  ==========  ===========================================================================

:func:`prepare` runs one; each returns a :class:`Prepared` with counted steps.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evaltool.errors import SpecError
from evaltool.nhs.mapping import SourceMapping
from evaltool.nhs.presets import apc, attendances, population
from evaltool.nhs.presets.base import Context, PendingStep, Prepared, resolve
from evaltool.nhs.presets.generic import build_generic

__all__ = ["PRESETS", "Preset", "Prepared", "PendingStep", "prepare", "resolve"]


@dataclass(frozen=True)
class Preset:
    """A standard extract: its name, the contract table it feeds, the dictionary it follows, the builder."""

    name: str
    title: str
    feeds: str
    dictionary: str
    build: Callable[[Context], Prepared]


PRESETS: dict[str, Preset] = {
    "hes_apc": Preset("hes_apc", "HES Admitted Patient Care (episodes collapsed to spells)", "activity",
                      apc.DICTIONARY, lambda c: apc.build(c, "hes_apc")),
    "sus_apc": Preset("sus_apc", "SUS Admitted Patient Care (episodes collapsed to spells)", "activity",
                      apc.DICTIONARY, lambda c: apc.build(c, "sus_apc")),
    "hes_op": Preset("hes_op", "HES Outpatients (attended appointments)", "activity", attendances.DICTIONARY,
                     lambda c: attendances.build_outpatients(c, "hes_op")),
    "sus_op": Preset("sus_op", "SUS Outpatients (attended appointments)", "activity", attendances.DICTIONARY,
                     lambda c: attendances.build_outpatients(c, "sus_op")),
    "ecds": Preset("ecds", "Emergency Care Data Set (unplanned attendances)", "activity", attendances.DICTIONARY,
                   lambda c: attendances.build_ae(c, "ecds")),
    "hes_ae": Preset("hes_ae", "HES A&E (first and unplanned follow-up attendances)", "activity",
                     attendances.DICTIONARY, lambda c: attendances.build_ae(c, "hes_ae")),
    "gp_list": Preset("gp_list", "GP registration list", "population", population.DICTIONARY,
                      population.build_gp_list),
    "enrolment": Preset("enrolment", "Programme enrolment list", "enrolment", "programme enrolment list",
                        population.build_enrolment),
}


def prepare(raw: Any, mapping: SourceMapping, source: str, feeds: str,
            persist: Callable[[Any, str], Any] | None = None) -> Prepared:
    """Turn one raw source (an Ibis table) into a contract-shaped table for ``feeds``.

    ``mapping.preset`` selects a preset (it must feed ``feeds``); without one the ``columns``,
    ``values``, ``date_format`` and ``nhs_number`` keys apply to a table already shaped like the contract.
    """
    if persist is not None:
        # Read the source once: every count and step below scans the engine's copy, not the file.
        raw = persist(raw, f"raw_{feeds}")
    ctx = Context(raw=raw, source=source, mapping=mapping, persist=persist or (lambda e, n: e))
    if mapping.preset is None:
        if feeds == "enrolment":
            return PRESETS["enrolment"].build(ctx)
        return build_generic(ctx, feeds)
    if mapping.preset not in PRESETS:
        raise SpecError(f"{source}: unknown preset `{mapping.preset}`; choose from {', '.join(PRESETS)}")
    p = PRESETS[mapping.preset]
    if p.feeds != feeds:
        raise SpecError(f"{source}: preset `{p.name}` ({p.title}) feeds `data.{p.feeds}`, not `data.{feeds}`")
    return p.build(ctx)
