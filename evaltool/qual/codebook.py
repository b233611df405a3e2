"""Codebooks: themes -> codes, with definitions and inclusion/exclusion notes.

A codebook is read from evaltool's YAML format (:func:`read_codebook`) or from a REFI-QDA
codebook exchange file (:func:`read_qdc`). Validation collects every problem before raising:
duplicate codes or themes, codes without a theme, unknown parents and parent cycles.

YAML layout::

    name: Integration ingredients
    themes:
      - theme: shared_records              # identifier used in tables
        label: Shared and integrated records
        group: enabler                     # optional: enabler | barrier | ...
        description: ...
        codes:
          - code: records_shared_access    # identifier cited by coded segments
            label: Shared access to records
            definition: ...
            include: ...                   # inclusion notes
            exclude: ...                   # exclusion notes
            parent: another_code           # optional sub-code relation
    codes:                                 # optional: codes declared outside a theme
      - code: extra_code
        theme: shared_records              # required here
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evaltool._result import ResultMixin, Summary
from evaltool.errors import DataValidationError

from ._xml import child, children, local, parse_xml

CODE_COLUMNS = ["code", "theme", "label", "definition", "include", "exclude", "parent", "guid"]
THEME_COLUMNS = ["theme", "label", "group", "description"]


@dataclass(frozen=True)
class Codebook(ResultMixin):
    """A validated codebook.

    Attributes
    ----------
    name:
        Codebook title.
    themes:
        One row per theme: ``theme, label, group, description``.
    codes:
        One row per code: ``code, theme, label, definition, include, exclude, parent, guid``.
    """

    name: str
    themes: pd.DataFrame = field(repr=False)
    codes: pd.DataFrame = field(repr=False)

    def theme_of(self) -> dict[str, str]:
        """Mapping code -> theme."""
        return dict(zip(self.codes["code"], self.codes["theme"]))

    def theme_labels(self) -> dict[str, str]:
        """Mapping theme -> display label."""
        return dict(zip(self.themes["theme"], self.themes["label"]))

    def code_labels(self) -> dict[str, str]:
        """Mapping code -> display label."""
        return dict(zip(self.codes["code"], self.codes["label"]))

    def summary(self) -> Summary:
        counts = self.codes.groupby("theme", sort=False).size().rename("n_codes").reset_index()
        tab = self.themes[["theme", "label", "group"]].merge(counts, on="theme", how="left")
        return Summary(
            title=f"Codebook: {self.name}",
            lines=(("themes", str(len(self.themes))), ("codes", str(len(self.codes)))),
            tables=(("Themes", tab),),
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per code with its theme's label and group."""
        th = self.themes.rename(columns={"label": "theme_label", "description": "theme_description"})
        return self.codes.merge(th, on="theme", how="left")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "themes": self.themes.fillna("").to_dict(orient="records"),
            "codes": self.codes.fillna("").to_dict(orient="records"),
        }

    def plot(self):
        from plotnine import aes, coord_flip, geom_col, ggplot, labs

        from evaltool.plotting import NHS_BLUE, theme_evaltool

        d = self.codes.groupby("theme").size().rename("n_codes").reset_index()
        d["theme"] = d["theme"].map(self.theme_labels()).fillna(d["theme"])
        return (
            ggplot(d, aes("theme", "n_codes"))
            + geom_col(fill=NHS_BLUE)
            + coord_flip()
            + labs(x="", y="Codes in theme", title=f"Codebook: {self.name}")
            + theme_evaltool()
        )


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


def build_codebook(name: str, themes: list[dict], codes: list[dict], source: str) -> Codebook:
    """Validate raw theme and code records and build a :class:`Codebook`.

    Every problem is collected and reported in one :class:`~evaltool.errors.DataValidationError`.

    Examples
    --------
    >>> cb = build_codebook("t", [{"theme": "a"}], [{"code": "x", "theme": "a"}], "demo")
    >>> cb.theme_of()
    {'x': 'a'}
    """
    problems: list[str] = []
    th = pd.DataFrame([{c: _clean(t.get(c)) for c in THEME_COLUMNS} for t in themes], columns=THEME_COLUMNS)
    cd = pd.DataFrame([{c: _clean(x.get(c)) for c in CODE_COLUMNS} for x in codes], columns=CODE_COLUMNS)
    th["label"] = th["label"].where(th["label"] != "", th["theme"])
    cd["label"] = cd["label"].where(cd["label"] != "", cd["code"])

    if (th["theme"] == "").any():
        problems.append(f"{int((th['theme'] == '').sum())} theme(s) without a `theme` name")
    dup_t = sorted(th.loc[th["theme"].duplicated() & (th["theme"] != ""), "theme"].unique())
    if dup_t:
        problems.append(f"duplicate themes: {', '.join(dup_t)}")
    if (cd["code"] == "").any():
        problems.append(f"{int((cd['code'] == '').sum())} code(s) without a `code` name")
    dup_c = sorted(cd.loc[cd["code"].duplicated() & (cd["code"] != ""), "code"].unique())
    if dup_c:
        problems.append(f"duplicate codes (each code must appear once): {', '.join(dup_c)}")
    no_theme = sorted(cd.loc[cd["theme"] == "", "code"])
    if no_theme:
        problems.append(f"codes without a theme: {', '.join(no_theme)} (give each a `theme`)")
    unknown_theme = sorted(cd.loc[(cd["theme"] != "") & ~cd["theme"].isin(th["theme"]), "code"])
    if unknown_theme:
        problems.append(f"codes naming a theme that is not declared: {', '.join(unknown_theme)}")
    known = set(cd["code"])
    bad_parent = sorted(cd.loc[(cd["parent"] != "") & ~cd["parent"].isin(known), "code"])
    if bad_parent:
        problems.append(f"codes whose `parent` is not a code: {', '.join(bad_parent)}")

    # Parent cycles: follow each chain; a chain longer than the number of codes revisits a code.
    parent = {c: p for c, p in zip(cd["code"], cd["parent"]) if p}
    cyclic: set[str] = set()
    for start in parent:
        seen = [start]
        node = parent.get(start)
        while node:
            if node in seen:
                cyclic.update(seen[seen.index(node):])
                break
            seen.append(node)
            node = parent.get(node)
    if cyclic:
        problems.append(f"parent cycle among codes: {', '.join(sorted(cyclic))}")

    if problems:
        raise DataValidationError(
            f"codebook `{source}` is invalid:\n- " + "\n- ".join(problems)
        )
    return Codebook(name=name or Path(source).stem, themes=th.reset_index(drop=True),
                    codes=cd.reset_index(drop=True))


def read_codebook(path: str | Path) -> Codebook:
    """Read and validate a codebook YAML file (or a REFI-QDA ``.qdc`` file by extension).

    Parameters
    ----------
    path:
        ``.yaml``/``.yml`` in evaltool's layout (see module docs) or a REFI-QDA ``.qdc``.

    Returns
    -------
    Codebook

    Examples
    --------
    >>> from evaltool.qual import starter_codebook_path
    >>> cb = read_codebook(starter_codebook_path())
    >>> "shared_records" in set(cb.themes["theme"])
    True
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"codebook file `{path}` does not exist")
    if path.suffix.lower() == ".qdc":
        return read_qdc(path)
    if not path.is_file():
        raise DataValidationError(f"codebook `{path}` is a folder, not a file")
    if path.stat().st_size > 5_000_000:
        raise DataValidationError(f"codebook `{path}` is larger than 5 MB; a codebook is a short YAML list of themes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise DataValidationError(f"codebook `{path}` is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise DataValidationError(f"codebook `{path}` is not valid YAML: {str(problem)[:120]}{where}") from None
    if not isinstance(raw, dict) or "themes" not in raw:
        raise DataValidationError(
            f"codebook `{path}`: expected a mapping with a `themes` list, found {type(raw).__name__}"
        )
    themes, codes = [], []
    for t in raw.get("themes") or []:
        if not isinstance(t, dict):
            raise DataValidationError(f"codebook `{path}`: each theme must be a mapping, found {str(t)[:60]!r}")
        themes.append(t)
        for c in t.get("codes") or []:
            if not isinstance(c, dict):
                raise DataValidationError(f"codebook `{path}`: each code must be a mapping, found {str(c)[:60]!r}")
            codes.append({**c, "theme": t.get("theme")})
    for c in raw.get("codes") or []:
        if not isinstance(c, dict):
            raise DataValidationError(f"codebook `{path}`: each code must be a mapping, found {str(c)[:60]!r}")
        codes.append(dict(c))
    return build_codebook(_clean(raw.get("name")), themes, codes, str(path))


def codebook_from_refi(codes_elem, source: str, name: str = "") -> Codebook:
    """Build a codebook from a REFI ``<Codes>`` element (shared by .qdc and .qde readers).

    Themes are the top-level codes that have sub-codes, and codes are their descendants
    (parent = the intermediate code). ATLAS.ti expresses hierarchy as ``Theme::code`` in flat
    names; such codes take the text before ``::`` as theme. Remaining top-level codes without
    children go to the theme ``ungrouped``.
    """
    themes: dict[str, dict] = {}
    codes: list[dict] = []

    def desc(e) -> str:
        d = child(e, "Description")
        return (d.text or "").strip() if d is not None else ""

    def walk(e, theme: str, parent: str) -> None:
        for c in children(e, "Code"):
            nm = c.get("name", "")
            codes.append({"code": nm, "theme": theme, "label": nm, "definition": desc(c),
                          "parent": parent, "guid": (c.get("guid") or "").strip("{}").upper()})
            walk(c, theme, nm)

    for top in children(codes_elem, "Code"):
        nm = top.get("name", "")
        if children(top, "Code"):
            themes[nm] = {"theme": nm, "label": nm, "description": desc(top)}
            if top.get("isCodable", "true").lower() == "true":
                # A codable theme node is also a code in its own right.
                codes.append({"code": nm, "theme": nm, "label": nm, "definition": desc(top),
                              "guid": (top.get("guid") or "").strip("{}").upper()})
            walk(top, nm, "")
        elif "::" in nm:
            th = nm.split("::", 1)[0]
            themes.setdefault(th, {"theme": th, "label": th, "description": ""})
            codes.append({"code": nm, "theme": th, "label": nm.split("::", 1)[1],
                          "definition": desc(top), "guid": (top.get("guid") or "").strip("{}").upper()})
        else:
            codes.append({"code": nm, "theme": None, "label": nm, "definition": desc(top),
                          "guid": (top.get("guid") or "").strip("{}").upper()})
    # Flat codes whose name is also an ATLAS.ti theme prefix belong to that theme.
    for c in codes:
        if c["theme"] is None:
            if c["code"] in themes:
                c["theme"] = c["code"]
            else:
                themes.setdefault("ungrouped", {"theme": "ungrouped", "label": "Ungrouped codes",
                                                "description": "Top-level codes without a parent"})
                c["theme"] = "ungrouped"
    return build_codebook(name, list(themes.values()), codes, source)


def read_qdc(path: str | Path) -> Codebook:
    """Read a REFI-QDA codebook exchange file (``.qdc``, namespace urn:QDA-XML:codebook:1.0).

    Examples
    --------
    >>> # read_qdc("codebook.qdc").codes.head()
    """
    path = Path(path)
    root = parse_xml(path.read_bytes(), str(path))
    if local(root.tag) != "CodeBook":
        raise DataValidationError(f"`{path}`: expected a <CodeBook> root element, found <{local(root.tag)}>")
    codes = child(root, "Codes")
    if codes is None:
        raise DataValidationError(f"`{path}`: <CodeBook> has no <Codes> element")
    return codebook_from_refi(codes, str(path), name=root.get("origin", "") or path.stem)


def starter_codebook_path() -> Path:
    """Path of the starter codebook shipped with evaltool (integration ingredients and barriers)."""
    return Path(__file__).resolve().parent.parent / "data" / "codebooks" / "integration_starter.yaml"
