"""Generate the paired EQ-5D-5L test data in pairs_5l.csv (run once; the CSV is committed).

Rules deliberately unlike Southvale's PROM generator: a latent severity per person drives all
five baseline levels (correlated dimensions); at follow-up each dimension moves by -2..+2 with
probabilities that depend on the group; a fifth of people start in full health (11111) and most
of them stay there; some follow-ups are missing, some profiles partly blank or out of range
(the R package sets those pairs to NA, as evaltool does).
"""
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    rng = np.random.default_rng(20261122)
    n = 400
    group = rng.choice(["A", "B"], n, p=[0.55, 0.45])
    sev = rng.gamma(1.5, 0.9, n)
    pre = np.clip(1 + np.floor(rng.poisson(sev[:, None], (n, 5)) * rng.uniform(0.5, 1.2, (n, 5))), 1, 5).astype(int)
    healthy = rng.random(n) < 0.2
    pre[healthy] = 1
    p_up = np.where(group == "A", 0.30, 0.18)[:, None]
    move = np.where(rng.random((n, 5)) < p_up, -rng.integers(1, 3, (n, 5)), 0)
    move += np.where(rng.random((n, 5)) < 0.15, rng.integers(1, 3, (n, 5)), 0)
    post = np.clip(pre + move, 1, 5)
    stay = healthy & (rng.random(n) < 0.7)
    post[stay] = 1
    state = lambda m: pd.Series(["".join(map(str, r)) for r in m], dtype=object)
    pre_s, post_s = state(pre), state(post)
    post_s[rng.random(n) < 0.05] = None   # lost to follow-up
    pre_s[[7, 123]] = ["16111", "11161"]  # out of range: NA in both tools
    out = pd.DataFrame({"id": np.arange(1, n + 1), "group": group, "pre": pre_s, "post": post_s})
    out.to_csv(Path(__file__).with_name("pairs_5l.csv"), index=False)


if __name__ == "__main__":  # python tests/reference/eq5d/make_pairs_5l.py
    main()
