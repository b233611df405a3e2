"""EQ-5D: profile validation, index values from published value sets and mappings, profile descriptives.

The value sets and mappings offered, their coefficients and provenance are in
:mod:`evaltool.proms.valuesets`; the Paretian classification of change and the probability of
superiority in :mod:`evaltool.proms.paretian`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError, format_rows
from evaltool.proms.valuesets import (  # noqa: F401  (re-exported: the public home of these names)
    DIMENSIONS,
    VALUE_SETS,
    ValueSet,
    additive_5l,
    get_value_set,
    n3_model_3l,
)

DIMENSION_LABELS = {
    "mo": "Mobility",
    "sc": "Self-care",
    "ua": "Usual activities",
    "pd": "Pain/discomfort",
    "ad": "Anxiety/depression",
}

AGE_BANDS = ("18-34", "35-44", "45-54", "55-64", "65+")


# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------
def _profile_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Map each dimension to its column: ``mo``, ``eq5d_mo`` or R's ``MO`` (the eq5d package's names).

    >>> _profile_columns(pd.DataFrame(columns=["MO", "SC", "UA", "PD", "AD"]))["pd"]
    'PD'
    """
    found: dict[str, str] = {}
    missing = []
    for d in DIMENSIONS:
        for name in (d, f"eq5d_{d}", d.upper(), f"EQ5D_{d.upper()}"):
            if name in frame.columns:
                found[d] = name
                break
        else:
            missing.append(d)
    if missing:
        raise DataValidationError(
            f"`profiles` must have the five EQ-5D dimension columns mo, sc, ua, pd, ad "
            f"(or eq5d_mo ... eq5d_ad, or R's MO ... AD); missing: {', '.join(missing)}. Found columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    return found


def _profiles_to_frame(profiles: Any) -> pd.DataFrame:
    if isinstance(profiles, pd.DataFrame):
        cols = _profile_columns(profiles)
        return pd.DataFrame({d: profiles[c].to_numpy() for d, c in cols.items()})
    # A sequence of 5-digit states ("11111", 11111, ...): vectorised string parsing.
    raw = pd.Series(list(profiles), dtype="object")
    text = raw.where(raw.notna(), None).astype("string").str.strip()
    text = text.str.replace(r"\.0$", "", regex=True)  # 11111.0 from a float column
    ok = (text.isna() | text.str.fullmatch(r"\d{5}")).fillna(False).to_numpy(dtype=bool)
    if not ok.all():
        bad = np.flatnonzero(~ok) + 1
        raise DataValidationError(
            "`profiles` states must be 5-digit strings such as '11111'; found malformed states in "
            f"{format_rows(bad)}: {', '.join(map(repr, raw[~ok].head(5).tolist()))}."
        )
    out = {}
    for i, d in enumerate(DIMENSIONS):
        out[d] = pd.to_numeric(text.str[i], errors="coerce").astype(float).to_numpy()
    return pd.DataFrame(out)


def validate_profiles(
    profiles: Any, instrument: str = "EQ-5D-5L", *, on_invalid: str = "raise"
) -> tuple[pd.DataFrame, np.ndarray]:
    """Check EQ-5D profiles and return integer levels plus a mask of usable rows.

    A row is usable when all five dimensions hold integer levels 1..5 (5L) or 1..3 (3L).
    Rows with all five dimensions missing are non-response (not usable, not an error).

    Parameters
    ----------
    profiles:
        DataFrame with columns mo, sc, ua, pd, ad (or eq5d_mo ...), or a sequence of states.
    instrument:
        ``"EQ-5D-5L"`` or ``"EQ-5D-3L"``.
    on_invalid:
        ``"raise"`` (default): :class:`DataValidationError` naming the rows (level out of range,
        non-integer, some but not all dimensions missing). ``"mask"``: flag them unusable.

    Returns
    -------
    (levels, usable)
        ``levels``: DataFrame of float levels (NaN where unusable); ``usable``: boolean array.

    Examples
    --------
    >>> lv, ok = validate_profiles(["11111", "12345"])
    >>> ok.tolist()
    [True, True]
    """
    if instrument not in ("EQ-5D-5L", "EQ-5D-3L"):
        raise DataValidationError(f"`instrument` must be 'EQ-5D-5L' or 'EQ-5D-3L'; found {instrument!r}.")
    max_level = 5 if instrument == "EQ-5D-5L" else 3
    frame = _profiles_to_frame(profiles)
    values = np.empty(frame.shape, dtype=float)
    nonnumeric = np.zeros(len(frame), dtype=bool)
    for j, d in enumerate(DIMENSIONS):
        num = pd.to_numeric(frame[d], errors="coerce").to_numpy(dtype=float)
        was_present = frame[d].notna().to_numpy()
        nonnumeric |= was_present & np.isnan(num)
        values[:, j] = num
    isna = np.isnan(values)
    all_missing = isna.all(axis=1) & ~nonnumeric
    partial = (isna.any(axis=1) & ~isna.all(axis=1)) | (nonnumeric & ~isna.all(axis=1))
    with np.errstate(invalid="ignore"):
        nonint = (~isna & (values != np.round(values))).any(axis=1) | nonnumeric
        out_of_range = (~isna & ((values < 1) | (values > max_level))).any(axis=1)
    bad = (partial | nonint | out_of_range) & ~all_missing
    if bad.any() and on_invalid == "raise":
        problems = []
        for name, mask in (
            (f"levels outside 1-{max_level}", out_of_range),
            ("non-integer levels", nonint),
            ("some dimensions missing", partial & ~nonint),
        ):
            rows = np.flatnonzero(mask & ~all_missing) + 1
            if len(rows):
                problems.append(f"{name} in {format_rows(rows)}")
        raise DataValidationError(
            f"`profiles` are not valid {instrument} profiles (each of mo, sc, ua, pd, ad must be an "
            f"integer 1-{max_level}): " + "; ".join(problems) + ". Row numbers count the first data "
            "row as row 2; fix or drop these rows."
        )
    if on_invalid not in ("raise", "mask"):
        raise DataValidationError(f"`on_invalid` must be 'raise' or 'mask'; found {on_invalid!r}.")
    usable = ~bad & ~all_missing
    levels = pd.DataFrame(np.where(usable[:, None], values, np.nan), columns=list(DIMENSIONS))
    return levels, usable


def profile_states(levels: pd.DataFrame) -> pd.Series:
    """5-digit state strings (``"11111"``) from a levels frame; missing rows give ``None``.

    Examples
    --------
    >>> lv, _ = validate_profiles(["12345"])
    >>> profile_states(lv).tolist()
    ['12345']
    """
    ok = levels.notna().all(axis=1)
    codes = (levels.fillna(0).astype(int).to_numpy() * np.array([10000, 1000, 100, 10, 1])).sum(axis=1)
    return pd.Series(np.where(ok, codes.astype(str), None), index=levels.index, dtype="object")


# ---------------------------------------------------------------------------------------------
# Index values
# ---------------------------------------------------------------------------------------------
def _data_path(name: str):
    return resources.files("evaltool").joinpath("data", "eq5d", name)


@lru_cache(maxsize=None)
def _table(name: str) -> pd.DataFrame:
    with resources.as_file(_data_path(name)) as path:
        return pd.read_csv(path, dtype={"state": str})


def _band_index(age: Any) -> np.ndarray:
    """Index into AGE_BANDS (0 = 18-34 ... 4 = 65+) as float; NaN for missing age; under 18 is an error."""
    a = pd.to_numeric(pd.Series(np.asarray(age)), errors="coerce").to_numpy(dtype=float)
    if np.any(a < 18):
        rows = np.flatnonzero(a < 18) + 1
        raise DataValidationError(
            f"`age` must be 18 or over for the NICE DSU mapping (adults only); found under-18s in {format_rows(rows)}."
        )
    idx = np.searchsorted(np.array([35.0, 45.0, 55.0, 65.0]), a, side="right").astype(float)
    idx[np.isnan(a)] = np.nan
    return idx


def age_band(age: Any) -> pd.Series:
    """NICE DSU age bands (18-34, 35-44, 45-54, 55-64, 65+); under 18 is an error.

    Examples
    --------
    >>> age_band([18, 34.9, 35, 64, 65, 90]).tolist()
    ['18-34', '18-34', '35-44', '55-64', '65+', '65+']
    """
    idx = _band_index(age)
    labels = np.array(AGE_BANDS, dtype=object)
    return pd.Series(np.where(np.isnan(idx), None, labels[np.nan_to_num(idx).astype(int)]), dtype="object")


def _sex_index(sex: Any) -> np.ndarray:
    """0 = male, 1 = female (NaN missing), from 'M'/'F', 'male'/'female' or 1/2 in any case."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(sex, dtype=object)), use_na_sentinel=True)
    mapping = {"m": 0.0, "male": 0.0, "1": 0.0, "f": 1.0, "female": 1.0, "2": 1.0}
    norm = [str(u).strip().lower() for u in uniques]  # loop over distinct values only
    bad = [u for u, n in zip(uniques, norm) if n not in mapping]
    if bad:
        rows = np.flatnonzero(np.isin(codes, [i for i, n in enumerate(norm) if n not in mapping])) + 1
        raise DataValidationError(
            f"`sex` must be 'F'/'M' (or female/male) for the NICE DSU mapping; found {bad[:5]} in {format_rows(rows)}."
        )
    lookup = np.array([mapping[n] for n in norm] + [np.nan])
    return lookup[np.where(codes < 0, len(norm), codes)]


def _state_index(levels: np.ndarray, max_level: int) -> np.ndarray:
    """Position of each profile among all states in lexicographic order (11111 = 0), base ``max_level``."""
    lv = levels.astype(np.int64) - 1
    weights = max_level ** np.arange(4, -1, -1)
    return lv @ weights


@lru_cache(maxsize=None)
def _dense_table(name: str, value_col: str, max_level: int, by_age_sex: bool) -> np.ndarray:
    """A mapping table as a dense array indexed by state (x 5 age bands x 2 sexes): O(1) lookups."""
    t = _table(name)
    states = t["state"].astype(str).str.zfill(5)
    levels = np.column_stack([states.str[i].astype(int).to_numpy() for i in range(5)])
    pos = _state_index(levels, max_level)
    size = max_level ** 5
    if by_age_sex:
        band = t["age_band"].map({b: i for i, b in enumerate(AGE_BANDS)}).to_numpy()
        sex = t["sex"].map({"male": 0, "female": 1}).to_numpy()
        pos = (pos * len(AGE_BANDS) + band) * 2 + sex
        size *= len(AGE_BANDS) * 2
    dense = np.full(size, np.nan)
    dense[pos] = t[value_col].to_numpy(dtype=float)
    return dense


#: Mappings that are a plain state -> index table: (file in evaltool/data/eq5d, value column).
_STATE_TABLES = {
    "crosswalk_vanhout_2012": ("eq5d5l_to_3l_crosswalk_vanhout2012_uk.csv", "index_3l_uk_crosswalk_vanhout2012"),
    "reverse_crosswalk_euroqol": ("eq5d3l_to_5l_reverse_crosswalk_england_euroqol.csv",
                                  "index_5l_england_reverse_crosswalk"),
}


def eq5d_index(
    profiles: Any,
    value_set: str = "england_5l_2018",
    *,
    age: Any = None,
    sex: Any = None,
    on_invalid: str = "raise",
) -> pd.Series:
    """EQ-5D index values from a published value set or mapping.

    Parameters
    ----------
    profiles:
        DataFrame with columns mo, sc, ua, pd, ad (or eq5d_mo ... eq5d_ad), or a sequence of
        5-digit states (``"11111"`` or ``11111``).
    value_set:
        ``"england_5l_2018"`` (Devlin et al. 2018, 5L), ``"uk_5l_2026"`` (Rowen et al. 2026, 5L),
        ``"uk_3l_tto_1997"`` (Dolan 1997, 3L), ``"uk_3l_vas"`` (UK VAS, 3L; not a utility),
        ``"crosswalk_vanhout_2012"`` (5L -> UK 3L), ``"dsu_5l_to_3l_2023"`` (5L -> UK 3L by age
        band and sex, needs ``age`` and ``sex``), ``"dsu_3l_to_5l_2023"`` (3L -> England 5L) or
        ``"reverse_crosswalk_euroqol"`` (3L -> England 5L, EuroQol's table). See
        :mod:`evaltool.proms.valuesets` for sources.
    age, sex:
        Per-row age in years and sex ('F'/'M'), only for the NICE DSU mappings.
    on_invalid:
        ``"raise"`` (default) raises :class:`~evaltool.errors.DataValidationError` naming bad rows;
        ``"mask"`` returns NaN for them.

    Returns
    -------
    pandas.Series
        Float index values named ``eq5d_index`` (NaN for non-response); ``.attrs["value_set"]``
        and ``.attrs["value_set_label"]`` say which value set produced them. The index follows the
        input DataFrame's index (a RangeIndex for sequences).

    Examples
    --------
    >>> eq5d_index(["11111", "55555"]).round(3).tolist()
    [1.0, -0.285]
    >>> eq5d_index(["33333"], value_set="uk_3l_tto_1997").round(3).tolist()
    [-0.594]
    """
    vs = get_value_set(value_set)
    levels, usable = validate_profiles(profiles, vs.instrument, on_invalid=on_invalid)
    out = np.full(len(levels), np.nan)
    lv = levels.to_numpy()[usable]
    if vs.key in ("england_5l_2018", "uk_5l_2026"):
        out[usable] = additive_5l(lv, vs.key)
    elif vs.key in ("uk_3l_tto_1997", "uk_3l_vas"):
        out[usable] = n3_model_3l(lv, vs.key)
    else:
        pos = _state_index(lv, vs.max_level)
        if vs.key in _STATE_TABLES:
            out[usable] = _dense_table(*_STATE_TABLES[vs.key], vs.max_level, False)[pos]
        else:
            if age is None or sex is None:
                raise DataValidationError(
                    f"`value_set` {value_set!r} (NICE DSU mapping) needs `age` and `sex` for every row."
                )
            if len(pd.Series(age)) != len(levels) or len(pd.Series(sex)) != len(levels):
                raise DataValidationError(
                    f"`age` and `sex` must have one value per profile ({len(levels)}); found "
                    f"{len(pd.Series(age))} and {len(pd.Series(sex))}."
                )
            band = _band_index(age)
            sexi = _sex_index(sex)
            known = ~np.isnan(band[usable]) & ~np.isnan(sexi[usable])
            if vs.key == "dsu_5l_to_3l_2023":
                table = _dense_table("dsu_5l_to_3l_uk_hernandezalava2023.csv.gz", "mapped_3l_uk_index", 5, True)
            else:
                table = _dense_table("dsu_3l_to_5l_uk_hernandezalava2023.csv", "mapped_5l_england_index", 3, True)
            key = (pos * len(AGE_BANDS) + np.nan_to_num(band[usable]).astype(np.int64)) * 2 + \
                np.nan_to_num(sexi[usable]).astype(np.int64)
            # Missing age or sex gives a missing index rather than a guess.
            out[usable] = np.where(known, table[key], np.nan)
        out[~usable] = np.nan
    index = profiles.index if isinstance(profiles, pd.DataFrame) else pd.RangeIndex(len(out))
    result = pd.Series(out, index=index, name="eq5d_index", dtype=float)
    result.attrs["value_set"] = vs.key
    result.attrs["value_set_label"] = vs.label
    return result


# ---------------------------------------------------------------------------------------------
# Profile descriptives
# ---------------------------------------------------------------------------------------------
def level_frequencies(
    data: pd.DataFrame, by: Sequence[str] = ("timepoint",), instrument: str = "EQ-5D-5L"
) -> pd.DataFrame:
    """Counts and percentages of each level of each dimension, by groups.

    Rows with unusable profiles are left out (percentages over valid responses to each dimension).

    Examples
    --------
    >>> df = pd.DataFrame({"timepoint": ["b", "b"], "mo": [1, 2], "sc": [1, 1], "ua": [1, 1],
    ...                    "pd": [1, 1], "ad": [1, 1]})
    >>> level_frequencies(df).query("dimension == 'mo'")[["level", "n", "pct"]].head(2).to_dict("records")
    [{'level': 1, 'n': 1, 'pct': 50.0}, {'level': 2, 'n': 1, 'pct': 50.0}]
    """
    by = list(by)
    levels, usable = validate_profiles(data, instrument, on_invalid="mask")
    max_level = 5 if instrument == "EQ-5D-5L" else 3
    keys = data[by].reset_index(drop=True)[usable]
    lv = levels[usable].astype(int)
    long = pd.concat([keys, lv], axis=1).melt(id_vars=by, var_name="dimension", value_name="level")
    counts = long.groupby([*by, "dimension", "level"], observed=True).size().rename("n")
    # Complete grid so absent levels show as 0 rather than vanishing.
    groups = keys.drop_duplicates().sort_values(by)
    grid = groups.merge(
        pd.DataFrame(
            [(d, lvl) for d in DIMENSIONS for lvl in range(1, max_level + 1)], columns=["dimension", "level"]
        ),
        how="cross",
    )
    out = grid.merge(counts.reset_index(), on=[*by, "dimension", "level"], how="left")
    out["n"] = out["n"].fillna(0).astype(int)
    out["n_valid"] = out.groupby([*by, "dimension"], observed=True)["n"].transform("sum")
    out["pct"] = np.where(out["n_valid"] > 0, 100 * out["n"] / out["n_valid"].clip(lower=1), np.nan)
    out["dimension_label"] = out["dimension"].map(DIMENSION_LABELS)
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    out = out.sort_values([*by, "dimension", "level"], key=lambda s: s.map(order) if s.name == "dimension" else s)
    return out.reset_index(drop=True)[[*by, "dimension", "dimension_label", "level", "n", "n_valid", "pct"]]


def ceiling(data: pd.DataFrame, by: Sequence[str] = ("timepoint",), instrument: str = "EQ-5D-5L") -> pd.DataFrame:
    """Number and % of valid profiles in full health (11111), by groups.

    Examples
    --------
    >>> df = pd.DataFrame({"timepoint": ["b", "b"], "mo": [1, 1], "sc": [1, 1], "ua": [1, 2],
    ...                    "pd": [1, 1], "ad": [1, 1]})
    >>> ceiling(df)["pct_full_health"].tolist()
    [50.0]
    """
    by = list(by)
    levels, usable = validate_profiles(data, instrument, on_invalid="mask")
    frame = data[by].reset_index(drop=True)[usable].copy()
    frame["full"] = (levels[usable] == 1).all(axis=1).to_numpy()
    out = frame.groupby(by, observed=True)["full"].agg(n_full_health="sum", n_valid="size").reset_index()
    out["pct_full_health"] = 100 * out["n_full_health"] / out["n_valid"]
    return out


@dataclass(frozen=True)
class EQ5DProfileResult(ResultMixin):
    """Level frequencies by time point and group (aggregate, no patient rows)."""

    levels: pd.DataFrame
    ceiling_table: pd.DataFrame
    instrument: str = "EQ-5D-5L"
    timepoints: tuple[str, ...] = ()

    def summary(self) -> Summary:
        return Summary(
            title=f"{self.instrument} profile: level frequencies",
            lines=(("Dimensions", ", ".join(DIMENSION_LABELS.values())),),
            tables=(("Full health (11111)", self.ceiling_table),),
        )

    def to_frame(self) -> pd.DataFrame:
        return self.levels.copy()

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "levels": self.levels.to_dict(orient="records"),
            "ceiling": self.ceiling_table.to_dict(orient="records"),
        }

    def plot(self):
        from evaltool.proms._plots import level_bars

        return level_bars(self.levels, self.timepoints or None)


def profile_summary(
    data: pd.DataFrame, by: Sequence[str] = ("timepoint",), instrument: str = "EQ-5D-5L"
) -> EQ5DProfileResult:
    """Level frequencies and ceiling (% 11111) by groups, as a result object.

    Examples
    --------
    >>> df = pd.DataFrame({"timepoint": ["b"] * 2, "mo": [1, 2], "sc": [1, 1], "ua": [1, 1],
    ...                    "pd": [1, 1], "ad": [1, 1]})
    >>> profile_summary(df).ceiling_table["pct_full_health"].tolist()
    [50.0]
    """
    return EQ5DProfileResult(
        level_frequencies(data, by, instrument), ceiling(data, by, instrument), instrument
    )
