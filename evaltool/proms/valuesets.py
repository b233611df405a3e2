"""EQ-5D value sets and mappings: which ones evaltool offers, their coefficients and where they come from.

Value sets (coefficients written here, from the publications):

* ``england_5l_2018`` -- EQ-5D-5L value set for England. Devlin NJ, Shah KK, Feng Y, Mulhern B,
  van Hout B. Valuing health-related quality of life: an EQ-5D-5L value set for England.
  Health Econ 2018;27(1):7-22, doi:10.1002/hec.3564 (Table 4, the hybrid model's decrements;
  11111 = 1.000, 55555 = -0.285).
* ``uk_5l_2026`` -- EQ-5D-5L value set for the UK. Rowen D, Mukuria C, Bray N, Carlton J, Longworth L,
  Meads D, Oluboyede Y, O'Neill C, Yang Y. A United Kingdom value set for the EQ-5D-5L. Value Health
  2026, doi:10.1016/j.jval.2026.03.008 (EQ-VT composite TTO, random-effects Tobit model; 20 level
  decrements, no constant). Coefficients from the R package eq5d (fragla/eq5d bfdc7ca,
  ``data-raw/VT.csv`` column UK, which cites this paper). The paper's own table could not be reached
  through the project's search tool; checked instead: every one of the 3,125 states against eq5d
  0.16.3.9000 run in R, eq5d's published-state checks (22222 = 0.784, 33333 = 0.604, 44444 = -0.209,
  55555 = -0.567) and the abstract's statement that the worst state's value is comparable to the UK
  3L value set's (-0.594).
* ``uk_3l_tto_1997`` -- EQ-5D-3L UK TTO value set. Dolan P. Modeling valuations for EuroQol
  health states. Med Care 1997;35(11):1095-108, doi:10.1097/00005650-199711000-00002
  (constant 0.081 for any move away from 11111, N3 0.269; 33333 = -0.594).
* ``uk_3l_vas`` -- EQ-5D-3L UK VAS value set (the MVH study's visual analogue scale model), as tabulated
  in Szende A, Oppe M, Devlin N (eds). EQ-5D Value Sets: Inventory, Comparative Review and User Guide.
  Springer 2007, doi:10.1007/1-4020-5511-0: constant 0.155 for any level 2 or 3, 0.215 if any level 3
  (33333 = -0.073). VAS values are not time trade-off utilities.

Mappings (tables shipped in ``evaltool/data/eq5d/``, see its README for provenance):

* ``crosswalk_vanhout_2012`` -- EQ-5D-5L profile -> UK 3L index. van Hout B et al. Value Health
  2012;15(5):708-15, doi:10.1016/j.jval.2012.02.008.
* ``dsu_5l_to_3l_2023`` -- EQ-5D-5L profile, age band and sex -> expected UK 3L utility.
  Hernandez Alava M, Pudney S, Wailoo A. PharmacoEconomics 2023;41(2):199-207,
  doi:10.1007/s40273-022-01218-7 (the NICE DSU mapping NICE's 2022 manual recommends).
* ``dsu_3l_to_5l_2023`` -- EQ-5D-3L profile, age band and sex -> expected England 5L utility (same).
* ``reverse_crosswalk_euroqol`` -- EQ-5D-3L profile -> England 5L index, EuroQol's "reverse crosswalk"
  table (EuroQol analysis tools; 11111 = 0.965, 33333 = -0.172). EuroQol has since replaced it with
  van Hout & Shaw's (2021) reverse crosswalk (Value Health 24(9):1285-93, doi:10.1016/j.jval.2021.03.009).

England 5L and UK 3L TTO were checked against eq5d ``data-raw/VT.csv`` column England and
``data-raw/TTO.csv`` column UK and, for England 5L, against the Devlin index of all 3,125 states in
the DSU table; the others against eq5d run in R on every state (tests/reference/eq5d/).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaltool.errors import DataValidationError

DIMENSIONS = ("mo", "sc", "ua", "pd", "ad")

# Decrements for levels 2..5 of each dimension (level 1 = 0); index = 1 - sum.
_ENGLAND_5L_2018 = {
    "mo": (0.058, 0.076, 0.207, 0.274),
    "sc": (0.050, 0.080, 0.164, 0.203),
    "ua": (0.050, 0.063, 0.162, 0.184),
    "pd": (0.063, 0.084, 0.276, 0.335),
    "ad": (0.078, 0.104, 0.285, 0.289),
}
_UK_5L_2026 = {
    "mo": (0.032, 0.058, 0.179, 0.279),
    "sc": (0.038, 0.060, 0.162, 0.206),
    "ua": (0.049, 0.086, 0.184, 0.212),
    "pd": (0.056, 0.066, 0.371, 0.479),
    "ad": (0.041, 0.126, 0.313, 0.391),
}

# 3L "N3" models: decrements for levels 2, 3; a constant if any level > 1; N3 if any level == 3.
_UK_3L_TTO_1997 = {
    "mo": (0.069, 0.314),
    "sc": (0.104, 0.214),
    "ua": (0.036, 0.094),
    "pd": (0.123, 0.386),
    "ad": (0.071, 0.236),
}
_UK_3L_TTO_1997_CONSTANT, _UK_3L_TTO_1997_N3 = 0.081, 0.269
_UK_3L_VAS = {
    "mo": (0.071, 0.182),
    "sc": (0.093, 0.145),
    "ua": (0.031, 0.081),
    "pd": (0.084, 0.171),
    "ad": (0.063, 0.124),
}
_UK_3L_VAS_CONSTANT, _UK_3L_VAS_N3 = 0.155, 0.215


@dataclass(frozen=True)
class ValueSet:
    """One way of turning a profile into an index value (a value set or a mapping)."""

    key: str
    label: str
    instrument: str  # the profile it takes: "EQ-5D-5L" or "EQ-5D-3L"
    output_scale: str  # the utility scale it produces
    citation: str
    needs_age_sex: bool = False
    caveat: str = ""  # what a reader must know when it is used (shown beside the results)

    @property
    def max_level(self) -> int:
        return 5 if self.instrument == "EQ-5D-5L" else 3


VALUE_SETS: dict[str, ValueSet] = {
    "england_5l_2018": ValueSet(
        "england_5l_2018",
        "EQ-5D-5L value set for England (Devlin et al. 2018)",
        "EQ-5D-5L",
        "England 5L",
        "Devlin NJ et al. Health Econ 2018;27(1):7-22. doi:10.1002/hec.3564",
    ),
    "uk_5l_2026": ValueSet(
        "uk_5l_2026",
        "EQ-5D-5L value set for the UK (Rowen et al. 2026)",
        "EQ-5D-5L",
        "UK 5L",
        "Rowen D et al. A United Kingdom value set for the EQ-5D-5L. Value Health 2026. doi:10.1016/j.jval.2026.03.008",
        caveat="NICE consulted in 2026 on adopting this value set; check whether its reference case has changed "
               "before using it for a NICE submission.",
    ),
    "uk_3l_tto_1997": ValueSet(
        "uk_3l_tto_1997",
        "EQ-5D-3L UK TTO value set (Dolan 1997)",
        "EQ-5D-3L",
        "UK 3L",
        "Dolan P. Med Care 1997;35(11):1095-108. doi:10.1097/00005650-199711000-00002",
    ),
    "uk_3l_vas": ValueSet(
        "uk_3l_vas",
        "EQ-5D-3L UK VAS value set (MVH study; Szende et al. 2007)",
        "EQ-5D-3L",
        "UK 3L (VAS)",
        "Szende A, Oppe M, Devlin N (eds). EQ-5D Value Sets: Inventory, Comparative Review and User Guide. "
        "Springer 2007. doi:10.1007/1-4020-5511-0",
        caveat="Visual analogue scale values are not time trade-off utilities: do not use them for QALYs.",
    ),
    "crosswalk_vanhout_2012": ValueSet(
        "crosswalk_vanhout_2012",
        "EQ-5D-5L to UK 3L crosswalk (van Hout et al. 2012)",
        "EQ-5D-5L",
        "UK 3L",
        "van Hout B et al. Value Health 2012;15(5):708-15. doi:10.1016/j.jval.2012.02.008",
    ),
    "dsu_5l_to_3l_2023": ValueSet(
        "dsu_5l_to_3l_2023",
        "EQ-5D-5L to UK 3L, NICE DSU age/sex mapping (Hernandez Alava et al. 2023)",
        "EQ-5D-5L",
        "UK 3L",
        "Hernandez Alava M et al. PharmacoEconomics 2023;41(2):199-207. doi:10.1007/s40273-022-01218-7",
        needs_age_sex=True,
    ),
    "dsu_3l_to_5l_2023": ValueSet(
        "dsu_3l_to_5l_2023",
        "EQ-5D-3L to England 5L, NICE DSU age/sex mapping (Hernandez Alava et al. 2023)",
        "EQ-5D-3L",
        "England 5L",
        "Hernandez Alava M et al. PharmacoEconomics 2023;41(2):199-207. doi:10.1007/s40273-022-01218-7",
        needs_age_sex=True,
    ),
    "reverse_crosswalk_euroqol": ValueSet(
        "reverse_crosswalk_euroqol",
        "EQ-5D-3L to England 5L, EuroQol reverse crosswalk",
        "EQ-5D-3L",
        "England 5L",
        "EuroQol Research Foundation, EQ-5D-3L to 5L reverse crosswalk calculator (England value set)",
        caveat="EuroQol has replaced this table with van Hout & Shaw's (2021) reverse crosswalk "
               "(Value Health 24(9):1285-93); kept for comparison with earlier analyses.",
    ),
}

#: Value sets computed from coefficients (the others look states up in shipped tables).
_ADDITIVE_5L = {"england_5l_2018": _ENGLAND_5L_2018, "uk_5l_2026": _UK_5L_2026}
_N3_3L = {"uk_3l_tto_1997": (_UK_3L_TTO_1997, _UK_3L_TTO_1997_CONSTANT, _UK_3L_TTO_1997_N3),
          "uk_3l_vas": (_UK_3L_VAS, _UK_3L_VAS_CONSTANT, _UK_3L_VAS_N3)}


def get_value_set(value_set: str) -> ValueSet:
    """Look up a value set by key, raising a clear error for unknown keys.

    Examples
    --------
    >>> get_value_set("uk_3l_tto_1997").instrument
    'EQ-5D-3L'
    """
    try:
        return VALUE_SETS[value_set]
    except KeyError:
        raise DataValidationError(
            f"`value_set` must be one of {sorted(VALUE_SETS)}; found {value_set!r}."
        ) from None


def additive_5l(levels: np.ndarray, key: str) -> np.ndarray:
    """Index of 5L profiles (rows of integer levels) under an additive value set: 1 - sum of decrements.

    Examples
    --------
    >>> additive_5l(np.array([[5, 5, 5, 5, 5]]), "uk_5l_2026").round(3).tolist()
    [-0.567]
    """
    coef = _ADDITIVE_5L[key]
    dec = np.zeros(len(levels))
    for j, d in enumerate(DIMENSIONS):
        dec += np.array((0.0,) + coef[d])[levels[:, j].astype(int) - 1]
    return 1.0 - dec


def n3_model_3l(levels: np.ndarray, key: str) -> np.ndarray:
    """Index of 3L profiles under an N3 model: 1 - constant (any problem) - decrements - N3 (any level 3).

    Examples
    --------
    >>> n3_model_3l(np.array([[3, 3, 3, 3, 3], [1, 1, 2, 1, 1]]), "uk_3l_vas").round(3).tolist()
    [-0.073, 0.814]
    """
    coef, constant, n3 = _N3_3L[key]
    dec = np.zeros(len(levels))
    for j, d in enumerate(DIMENSIONS):
        dec += np.array((0.0,) + coef[d])[levels[:, j].astype(int) - 1]
    dec += np.where((levels > 1).any(axis=1), constant, 0.0) + np.where((levels == 3).any(axis=1), n3, 0.0)
    return 1.0 - dec
