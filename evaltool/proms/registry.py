"""One registry of the patient-reported instruments evaltool knows."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """An instrument: what it measures, how it is scored, where the scoring comes from."""

    key: str
    kind: str  # "prom" or "prem"
    title: str
    scoring: str
    source: str
    value_sets: tuple[str, ...] = ()
    item_map: str | None = None


INSTRUMENTS: dict[str, Instrument] = {
    "EQ-5D-5L": Instrument(
        "EQ-5D-5L", "prom", "EQ-5D-5L (EuroQol)",
        "Five dimensions, levels 1-5; index from a value set or mapping; EQ-VAS 0-100",
        "EuroQol Research Foundation; value sets in evaltool.proms.eq5d",
        ("england_5l_2018", "crosswalk_vanhout_2012", "dsu_5l_to_3l_2023"),
    ),
    "EQ-5D-3L": Instrument(
        "EQ-5D-3L", "prom", "EQ-5D-3L (EuroQol)",
        "Five dimensions, levels 1-3; index from a value set or mapping; EQ-VAS 0-100",
        "EuroQol Research Foundation; value sets in evaltool.proms.eq5d",
        ("uk_3l_tto_1997", "dsu_3l_to_5l_2023"),
    ),
    "PAM": Instrument(
        "PAM", "prom", "Patient Activation Measure (licensed scores only)",
        "Licensed scores 0-100 and/or levels 1-4; levels from configurable cut points",
        "Hibbard JH et al. Health Serv Res 2005;40(6p1):1918-30 (Insignia Health licence)",
    ),
    "P3CEQ": Instrument(
        "P3CEQ", "prem", "Person-Centred Coordinated Care Experience Questionnaire",
        "11 items 0-3 (yes/no 0 or 3), person-centredness and coordination subscales, total 0-33, half rule",
        "Sugavanam T et al. J Patient Exp 2018;5(3):201-211", item_map="P3CEQ",
    ),
    "FFT": Instrument(
        "FFT", "prem", "Friends and Family Test",
        "% positive (very good + good) and % negative (poor + very poor) over all responses incl. don't know",
        "NHS England FFT guidance (2020)", item_map="FFT",
    ),
}


def get_instrument(key: str) -> Instrument:
    """Return the registry entry for ``key`` (e.g. ``"EQ-5D-5L"``, ``"FFT"``).

    Examples
    --------
    >>> get_instrument("FFT").kind
    'prem'
    """
    from evaltool.errors import DataValidationError

    try:
        return INSTRUMENTS[key]
    except KeyError:
        raise DataValidationError(f"unknown instrument {key!r}; known: {sorted(INSTRUMENTS)}.") from None
