"""A stage for tests/test_stage_beside.py that a helper process imports by name: one table, two figures (one
that draws, one whose drawing fails)."""
from __future__ import annotations

import pandas as pd
from plotnine import aes, geom_col, geom_point, ggplot

from evaltool.stage import FigureSpec, StageOutput


def stage_with_figures(n: int) -> StageOutput:
    df = pd.DataFrame({"x": list(range(n)), "y": [v % 3 for v in range(n)]})
    good = ggplot(df, aes("x", "y")) + geom_col()
    bad = ggplot(df, aes("x", "no_such_column")) + geom_point()
    return StageOutput(section="test", tables={"t": df},
                       figures={"good": FigureSpec(good, "Good", "alt", width=3.0, height=2.0),
                                "bad": FigureSpec(bad, "Bad", "alt", width=3.0, height=2.0)})
