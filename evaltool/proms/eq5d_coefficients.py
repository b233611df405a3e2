"""Published EQ-5D value-set coefficients (data, with their sources), used by :mod:`evaltool.proms.eq5d`."""
from __future__ import annotations

# Devlin et al. 2018, England 5L: decrement for levels 2..5 of each dimension (level 1 = 0).
_ENGLAND_5L_2018 = {
    "mo": (0.058, 0.076, 0.207, 0.274),
    "sc": (0.050, 0.080, 0.164, 0.203),
    "ua": (0.050, 0.063, 0.162, 0.184),
    "pd": (0.063, 0.084, 0.276, 0.335),
    "ad": (0.078, 0.104, 0.285, 0.289),
}

# Dolan 1997, UK 3L TTO (N3 model): decrements for levels 2, 3; constant if any level > 1;
# N3 if any level == 3.
_UK_3L_1997 = {
    "mo": (0.069, 0.314),
    "sc": (0.104, 0.214),
    "ua": (0.036, 0.094),
    "pd": (0.123, 0.386),
    "ad": (0.071, 0.236),
}
_UK_3L_1997_CONSTANT = 0.081
_UK_3L_1997_N3 = 0.269

# Rowen D et al., UK EQ-5D-5L value set (EQ-VT), Value Health 2026, doi:10.1016/j.jval.2026.03.008: decrements
# for levels 2..5 (level 1 = 0), no constant. Transcribed from the R package eq5d (fragla/eq5d bfdc7ca,
# data-raw/VT.csv column UK, via /work/shared/eq5d/eq5d5l_uk_2026_vt_coefficients.csv); the paper's table itself
# could not be reached (only its abstract: "worst state value comparable" to the 3L's -0.594; 55555 = -0.567
# here). Every one of the 3,125 states is checked against eq5d's own eq5d(type = "VT", country = "UK").
_UK_5L_2026 = {
    "mo": (0.032, 0.058, 0.179, 0.279),
    "sc": (0.038, 0.060, 0.162, 0.206),
    "ua": (0.049, 0.086, 0.184, 0.212),
    "pd": (0.056, 0.066, 0.371, 0.479),
    "ad": (0.041, 0.126, 0.313, 0.391),
}

# UK EQ-5D-3L VAS value set (the MVH survey's VAS model; Szende A, Oppe M, Devlin N (eds). EQ-5D Value Sets:
# Inventory, Comparative Review and User Guide. Springer 2007, doi:10.1007/1-4020-5511-0): 1 minus a constant
# for any level 2 or 3, a term if any level is 3, and level terms by dimension (eq5d data-raw/VAS.csv column UK).
_UK_3L_VAS = {
    "mo": (0.071, 0.182),
    "sc": (0.093, 0.145),
    "ua": (0.031, 0.081),
    "pd": (0.084, 0.171),
    "ad": (0.063, 0.124),
}
_UK_3L_VAS_ANY = 0.155
_UK_3L_VAS_ANY3 = 0.215
