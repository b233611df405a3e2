"""Write the whole Southvale example: core tables, PROM/PREM slice and the qualitative project.

Examples
--------
>>> import tempfile
>>> paths = write_example_data(tempfile.mkdtemp(), seed=3, scale=0.02)  # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from evaltool.datasets.southvale import DEFAULT_SEED, write_southvale
from evaltool.datasets.southvale_proms import write_southvale_proms
from evaltool.datasets.southvale_qual import generate_qual


def write_example_data(out_dir: str | os.PathLike[str], seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict[str, Path]:
    """Generate every Southvale file into ``out_dir`` (deterministic for a seed and scale).

    The PROM/PREM and qualitative slices are seeded from ``seed`` so the whole example is
    reproducible from one number; their truths are merged into ``truth.json``.
    """
    out = Path(out_dir)
    paths = dict(write_southvale(out, seed=seed, scale=scale))
    population = pd.read_parquet(out / "population.parquet")
    paths.update({f"proms_{k}" if k == "truth" else k: v for k, v in
                  write_southvale_proms(out, population, seed=seed).items()})
    practices = pd.read_parquet(out / "practices.parquet")
    generate_qual(practices, seed, out / "qual")
    import json

    from evaltool.datasets.southvale_area import write_southvale_area

    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    paths.update(write_southvale_area(out, population, pd.read_parquet(out / "activity.parquet"), truth, seed=seed))
    paths["qualitative"] = out / "qual"
    return paths
