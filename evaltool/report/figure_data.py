"""Count figures drawn by the report from published (controlled) data tables.

A stage that wants a figure of counts or of percentages of counts writes the data table (with its count
columns declared) and a :class:`evaltool.stage.DataFigure` naming the table, the kind of chart and the
columns to draw. The report draws it here from ``Published.figures[name].data.values``: a bar whose count
is suppressed is not drawn (its place is marked with the rule's symbol), and the caption and alt text say
how many values are not shown; a figure whose values are all suppressed is replaced by a sentence.

Kinds (``encoding`` keys in brackets):

* ``"bars"``: one bar per row (``x``, ``y``; optional ``fill``, ``facet``, ``stack``, ``horizontal``,
  ``y_label``, ``x_label``, ``fill_label``);
* ``"heatmap"``: tiles (``x``, ``y``, ``value``; optional ``value_label``);
* ``"lines"``: a line per ``colour`` over a numeric ``x`` (optional ``vline``); a suppressed point is a gap.
"""
from __future__ import annotations

import pandas as pd

__all__ = ["draw", "figure_markdown", "suppression_note"]


def suppression_note(data, rules, encoding: dict | None = None) -> str:
    """Words saying what a figure's data lose to disclosure control ("" when nothing is suppressed).

    ``encoding`` names the drawn column (``y`` or ``value``); without it, any suppressed count of a row
    counts.
    """
    col = (encoding or {}).get("y") or (encoding or {}).get("value")
    cols = [col] if col in data.hidden.columns else [c for c in data.count_columns if c in data.hidden.columns]
    if not cols or not rules.enabled:
        return ""
    hidden = data.hidden[cols].any(axis=1)
    n, total = int(hidden.sum()), len(hidden)
    if n == 0:
        return "" if _has_positive(data, col) else "It has no values above zero, so it is not drawn."
    label = rules.count_rule(data.rule).suppressed_text()
    if n == total or not _has_positive(data, col):
        return (f"All of this figure's values (other than zeros) are suppressed to protect confidentiality (small "
                f"numbers, shown as {label} in the tables), so it is not drawn.")
    return (f"{n} of {total} values are not drawn because they are suppressed to protect confidentiality "
            f"(small numbers, or numbers that would reveal them); their places are marked {label}.")


def _has_positive(data, col: str | None) -> bool:
    """Whether any published value of the drawn column is above zero (zeros alone draw nothing)."""
    if col is None or col not in data.values.columns:
        return True
    v = pd.to_numeric(data.values[col], errors="coerce")
    return bool((v[~data.hidden[col]] > 0).any())


def _frame(fig) -> tuple[pd.DataFrame, pd.Series]:
    """The published values to draw (text columns from ``display``) and which rows are suppressed."""
    pt = fig.data
    enc = fig.encoding
    df = pt.display.copy()
    ycol = enc.get("y") or enc.get("value")
    for c in pt.values.columns:
        if c in (ycol,) or c in pt.count_columns or c in pt.decimals:
            df[c] = pt.values[c]
    hidden_row = pt.hidden[[ycol]].any(axis=1) if ycol in pt.hidden.columns else pd.Series(False, index=df.index)
    return df, hidden_row


def draw(fig):
    """The ggplot of a data figure from its published values, or None when every value is suppressed.

    Examples
    --------
    >>> import pandas as pd
    >>> from evaltool.report.publish import PublishedFigure, PublishedTable
    >>> d = pd.DataFrame({"g": ["a", "b"], "n": [10.0, float("nan")]})
    >>> pt = PublishedTable("t", "s", "T", "", False, False, "hes", ("n",), (), d.astype(object),
    ...                     d, pd.DataFrame({"g": [False, False], "n": [False, True]}))
    >>> p = draw(PublishedFigure("f", "s", "T", "alt", False, "data", data=pt, encoding={"x": "g", "y": "n"}))
    >>> type(p).__name__
    'ggplot'
    """
    from plotnine import (aes, coord_flip, element_text, facet_grid, facet_wrap, geom_col, geom_text, geom_tile,
                          ggplot, labs, scale_fill_gradient, scale_fill_manual, theme)

    from evaltool.plotting import NHS_BLUE, NHS_DARK_GREY, PALETTE, theme_evaltool

    if fig.data is None:
        return None
    enc = fig.encoding
    kind = enc.get("kind", "bars")
    df, hid = _frame(fig)
    label = next((str(v) for v in fig.data.display.to_numpy()[fig.data.hidden.to_numpy()] if isinstance(v, str)), "*")
    shown, gone = df[~hid.to_numpy()].copy(), df[hid.to_numpy()].copy()
    if not len(shown) or not _has_positive(fig.data, enc.get("y") or enc.get("value")):
        return None  # nothing but zeros left: the report says so in words instead
    facets = enc.get("facet")
    facets = [facets] if isinstance(facets, str) else list(facets or [])
    for col, c in [("x", enc.get("x") if kind != "lines" else None), ("fill", enc.get("fill")),
                   ("colour", enc.get("colour"))] + [("facet", f) for f in facets]:
        order = enc.get(f"{col}_order") if col != "facet" else None
        if c and c in df.columns:
            cats = [str(v) for v in (order or list(dict.fromkeys(df[c].astype(str))))]
            if enc.get("horizontal") and col == "x":
                cats = cats[::-1]
            for frame in (shown, gone):
                frame[c] = pd.Categorical(frame[c].astype(str), categories=cats)
    if kind == "heatmap":
        x, y, v = enc["x"], enc["y"], enc["value"]
        p = (ggplot(shown, aes(x, y, fill=v)) + geom_tile(color="white")
             + scale_fill_gradient(low="#E8EDEE", high=NHS_BLUE)
             + labs(x=enc.get("x_label", ""), y=enc.get("y_label", ""), fill=enc.get("value_label", ""))
             + theme_evaltool())
        if len(gone):
            marks = gone[[x, y]].copy()
            marks["_label"] = pd.Series([str(label)] * len(marks), index=marks.index, dtype=object)
            p += geom_tile(marks, aes(x, y), fill="white", color="#E8EDEE", inherit_aes=False)
            p += geom_text(marks, aes(x, y, label="_label"), size=7, color=NHS_DARK_GREY, inherit_aes=False)
        return p
    if kind == "lines":
        from plotnine import geom_line, geom_point, geom_vline, scale_color_manual

        x, y, colour = enc["x"], enc["y"], enc.get("colour")
        d = shown.copy()
        d[x] = pd.to_numeric(d[x], errors="coerce")
        m = aes(x, y, color=colour, group=colour) if colour else aes(x, y)
        p = ggplot(d, m)
        if enc.get("vline") is not None:
            p += geom_vline(xintercept=float(enc["vline"]), linetype="dashed", color="#768692")
        if not len(gone):
            p += geom_line(size=0.9)  # with suppressed months a line would bridge the gaps: points only
        p += geom_point(size=1.6)
        if colour:
            levels = list(shown[colour].cat.categories) if hasattr(shown[colour], "cat") else sorted(shown[colour].unique())
            p += scale_color_manual(values=dict(zip([str(v) for v in levels], PALETTE)))
        return p + labs(x=enc.get("x_label", ""), y=enc.get("y_label", y), color="") + theme_evaltool()
    x, y = enc["x"], enc["y"]
    fill = enc.get("fill")
    pos = "stack" if enc.get("stack") else ("dodge" if fill else "identity")
    mapping = aes(x, y, fill=fill) if fill else aes(x, y)
    p = ggplot(shown, mapping) + (geom_col(position=pos) if fill else geom_col(fill=NHS_BLUE))
    if fill:
        levels = list(shown[fill].cat.categories) if hasattr(shown[fill], "cat") else sorted(shown[fill].unique())
        colours = enc.get("colours") or list(PALETTE) * (1 + len(levels) // max(1, len(PALETTE)))
        p += scale_fill_manual(values=dict(zip([str(v) for v in levels], colours)))
    if len(gone):
        marks = gone.drop_duplicates(subset=[x, *facets]) if enc.get("stack") else gone
        marks = marks[[c for c in dict.fromkeys([x, *facets])]].assign(_y=0.0)
        marks["_label"] = pd.Series([str(label)] * len(marks), index=marks.index, dtype=object)
        p += geom_text(marks, aes(x, "_y", label="_label"), size=8, va="bottom", color=NHS_DARK_GREY,
                       inherit_aes=False)
    if len(facets) == 2:
        p += facet_grid(f"{facets[0]} ~ {facets[1]}")
    elif facets:
        p += facet_wrap(f"~{facets[0]}", nrow=enc.get("facet_rows"))
    if enc.get("horizontal"):
        p += coord_flip()
    p += labs(x=enc.get("x_label", ""), y=enc.get("y_label", y), fill=enc.get("fill_label", fill or ""))
    p += theme_evaltool()
    if enc.get("x_text_angle"):
        p += theme(axis_text_x=element_text(rotation=float(enc["x_text_angle"]), size=6))
    return p


def figure_markdown(ctx, fig) -> str:
    """Markdown for a data figure in the report: the drawn PNG, or a sentence when all is suppressed."""
    from evaltool.report.escape import escape_markdown
    from evaltool.report.render import _data_key, _ident, _save, md_figure

    plot = draw(fig)
    if plot is None:
        note = fig.note or "This figure's values are suppressed to protect confidentiality, so it is not drawn."
        return f"**{escape_markdown(fig.title)}.** {escape_markdown(note)}"
    w = float(fig.encoding.get("width", 7.0))
    h = float(fig.encoding.get("height", 4.5))
    key = _data_key("data-figure", fig.name, fig.data.values, fig.data.hidden, repr(sorted(fig.encoding.items())))
    path = _save(ctx, lambda: plot, _ident("f", fig.name), key, width=w, height=h)
    title = fig.title + (f". {fig.note}" if fig.note else "")
    return md_figure(path, title, fig.alt, _ident("fig", fig.name))
