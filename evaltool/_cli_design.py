"""What ``evaltool validate`` prints about the area panel and about which designs the data support."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from evaltool._cli_output import plain

__all__ = ["print_design_support"]


def print_design_support(s, v, out: Console) -> bool:  # noqa: ANN001 - spec and validated data
    """Print the area panel's summary and which designs the data support; False when the area inputs are invalid."""
    from evaltool.area.design import check_area_inputs, design_support
    from evaltool.errors import DataValidationError

    area, ok, chk = s.area, True, None
    raw = v.extra.get("area_panel")
    file = s.data.source("area_panel").describe() if s.data.area_panel else "area_panel"
    window = (s.window.start, s.window.end)
    practices = v.practices if s.data.person_level else None
    if raw is not None or area is not None:
        try:
            chk = check_area_inputs(raw, area, window=window, person_level=s.data.person_level,
                                    practices=practices, file=file)
        except DataValidationError as err:
            out.print(f"[ERROR] {err}", markup=False, highlight=False)
            ok = False
    if chk is not None and chk.facts:
        f = chk.facts
        tab = Table(title=f"Area panel: {file}")
        tab.add_column("item")
        tab.add_column("value")
        for k, val in (("evaluated area", area.treated_area), ("go-live", f"{f['go_live']:%Y-%m}"),
                       ("months in the study window", f"{f['n_months']} ({f['first_month']:%Y-%m} to "
                                                      f"{f['last_month']:%Y-%m})"),
                       ("months before / after go-live", f"{f['n_pre_months']} / {f['n_post_months']}"),
                       ("comparison areas (never live)", str(f["n_donors"])),
                       ("other areas that went live (left out)", str(len(f["other_treated"]))),
                       ("planned designs that can run", ", ".join(f["methods_possible"]))):
            tab.add_row(k, plain(val))
        out.print(tab)
    if not ok:
        out.print(Text("Designs these data support: not known until the area panel's problem above is fixed."))
        return ok
    go = chk.go_live if chk is not None else None
    if go is None and practices is not None and "go_live_date" in practices:
        first = practices["go_live_date"].dropna()
        go = first.min() if len(first) else None
    t = design_support(population=v.population if s.data.person_level else None, practices=practices,
                       window=window, area_panel=chk.panel if chk is not None else None,
                       treated_area=area.treated_area if area else None,
                       go_live=go,
                       min_pre_months=area.min_pre_months if area else 24, min_donors=area.min_donors if area else 5)
    tab = Table(title="Designs these data support")
    for c in ("design", "supported", "reason"):
        tab.add_column(c)
    for d, sup, why in t.itertuples(index=False):
        tab.add_row(d.replace("_", " "), "yes" if sup else "no", why)
    out.print(tab)
    return ok
