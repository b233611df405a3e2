"""Peak memory of the inputs stage and where it happens: load and validate the inputs, build the cohort and its
tables, with resident memory sampled every 0.05 s and the main thread's stack kept at each new high.

Run::

    EVALTOOL_TEMP_DIR=/tmp/duck10 python benchmarks/scale/inputs_probe.py /tmp/nat10/national_2gb.yaml
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def main() -> None:
    peak: list = [0, [], 0.0]
    stop = threading.Event()
    main_id = threading.main_thread().ident
    t0 = time.perf_counter()

    def sample() -> None:
        while not stop.wait(0.05):
            r = rss()
            if r > peak[0]:
                frame = sys._current_frames().get(main_id)
                peak[:] = [r, traceback.format_stack(frame)[-14:] if frame else [], time.perf_counter() - t0]

    threading.Thread(target=sample, daemon=True).start()
    from evaltool import engine as engine_mod
    from evaltool.cohort import build_cohort
    from evaltool.cohort_stage import cohort_stage
    from evaltool.inputs import load_inputs
    from evaltool.spec import load_spec

    spec = load_spec(sys.argv[1])
    eng = engine_mod.connect(spec.engine)
    marks = []

    def mark(what: str) -> None:
        marks.append((what, round(time.perf_counter() - t0, 1), round(rss() / 2**30, 2), round(peak[0] / 2**30, 2)))

    mark("start")
    validated = load_inputs(spec, engine=eng)
    mark("load_inputs")
    validated.raise_for_errors()
    cohort = build_cohort(validated, min_age=spec.cohort.min_age, max_age=spec.cohort.max_age)
    mark("build_cohort")
    cohort_stage(validated, cohort, spec)
    mark("cohort_stage")
    stop.set()
    print("(step, seconds, RSS GB, peak so far GB)")
    for m in marks:
        print(m)
    print("PEAK GB", round(peak[0] / 2**30, 2), "at", round(peak[2], 1), "s, in:")
    print("".join(peak[1]))


if __name__ == "__main__":
    main()
