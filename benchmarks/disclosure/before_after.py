"""What an attacker recovers from a run's published tables before and after the publication gate.

Before = the report layer at commit 0b31743 (issue 11 filed): each table controlled on its own by
``apply_disclosure`` with the manifest's count columns as the stages declared them then (no counts in the
qualitative tables, SPC population and effect unit counts undeclared), FFT tables by the FFT rule with row
totals. After = ``evaltool.report.publish.publish``. The attacker is ``tests/_attacker.py`` (linear
programming over published values, totals, percentages and the same quantity across tables).

Usage: python benchmarks/disclosure/before_after.py reports/southvale [more bundles...]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from _attacker import Attack, Table, tables_from_published  # noqa: E402

from evaltool.report.bundle_io import load_bundle  # noqa: E402
from evaltool.report.disclosure import DisclosureConfig, apply_disclosure  # noqa: E402
from evaltool.report.publish import publish  # noqa: E402

# What the stages declared at 0b31743 where it differs from now.
OLD_COUNTS = {"spc_monthly": ("admissions",), "effects": (), "effects_matched": (), "naive_before_after": (),
              "input_problems": ()}


def old_tables(bundle):
    out, hidden, small_shown = [], 0, 0
    cfg = DisclosureConfig()
    for name, t in bundle.tables.items():
        if not t.publish:
            continue
        counts = OLD_COUNTS.get(name, () if name.startswith("qual_") or name == "joint_display" else t.count_columns)
        derived = [p for p in t.derived_columns if p[1] in counts]
        low = name.lower()
        fft = "fft" in low.split("_") or "friends_and_family" in low
        c = DisclosureConfig.fft() if fft else cfg
        res = apply_disclosure(t.data, counts, derived, c, additive_rows=fft)
        hidden += int(res.hidden.to_numpy().sum())
        # Counts of people published outright (qualitative tables declared none).
        for col in t.data.columns:
            if col in counts or not (col.startswith("n_") or col in ("n", "participants_in_group")):
                continue
            v = pd.to_numeric(t.data[col], errors="coerce")
            small_shown += int(v.between(1, cfg.min_count - 1).sum())
        if counts:
            out.append(Table(name, res.table, t.data, list(counts), [tuple(p) for p in derived], c.round_to,
                             c.min_count, max(c.min_count - 2, c.round_to if c.round_to > 1 else 0, 1)))
    return out, hidden, small_shown


def summarise(label, attack_tables, n_suppressed, small_shown, seconds):
    a = Attack(attack_tables)
    ranges = a.ranges()
    narrowed = [k for k, (lo, hi, p) in ranges.items() if hi - lo < p]
    exact = [k for k, (lo, hi, p) in ranges.items() if hi == lo]
    by_table = pd.Series([k[0] for k in narrowed]).value_counts().head(6).to_dict() if narrowed else {}
    return {"": label, "cells suppressed": n_suppressed, "small counts shown": small_shown,
            "suppressed cells attacked": len(ranges), "narrowed below protection": len(narrowed),
            "recovered exactly": len(exact), "worst tables": by_table, "gate seconds": round(seconds, 1)}


def main(paths):
    rows = []
    for p in paths:
        b = load_bundle(p)
        t0 = time.perf_counter()
        old, hidden, shown = old_tables(b)
        rows.append({"bundle": Path(p).name, **summarise("before (0b31743)", old, hidden, shown, time.perf_counter() - t0)})
        t0 = time.perf_counter()
        pub = publish(b)
        secs = time.perf_counter() - t0
        after_small = 0
        for name, pt in pub.tables.items():
            for c in pt.count_columns:
                after_small += sum(1 for v in pt.display[c] if isinstance(v, (int, float)) and 0 < v < 8)
        rows.append({"bundle": Path(p).name,
                     **summarise(f"after (primary {pub.n_primary}, secondary {pub.n_secondary})",
                                 tables_from_published(pub, b), pub.n_primary + pub.n_secondary, after_small, secs)})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main(sys.argv[1:] or ["reports/southvale"])
