"""Per-stage wall and CPU seconds of one evaluation, in process (optionally under pyinstrument).

``run.py`` times the CLI as a user meets it; this script splits the same run by stage with CPU time
(user + system of this process and of the programs it waited for: pandoc, Typst), which predicts the
wall time on an idle machine far better than wall time under load on a shared 2-core machine. Peak
RSS is the process's own high-water mark (``ru_maxrss``), sampled at each stage's end.

Run::

    nice python benchmarks/scale/stages.py analyses/southvale.yaml -o /tmp/sv
    nice python benchmarks/scale/stages.py analyses/southvale.yaml -o /tmp/sv --profile /tmp/sv.html
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _rss_gb() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(max(s.ru_maxrss, c.ru_maxrss) / 1024**2, 2)


class RssSampler:
    """Current resident memory (this process and its children) every ``interval`` seconds; ``take()``
    returns the highest value since the last call, so each stage gets its own peak."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.peak = 0
        self.interval = interval
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    @staticmethod
    def current() -> int:
        total = 0
        me = os.getpid()
        for pid in [me, *_children(me)]:
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.current())

    def take(self) -> float:
        p, self.peak = max(self.peak, self.current()), 0
        return round(p / 1024**3, 2)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--profile", type=Path, help="write a pyinstrument HTML profile here")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--label", default="")
    ap.add_argument("--results", type=Path, help="append the JSON line to this file")
    a = ap.parse_args()

    from evaltool.pipeline import run
    from evaltool.runlog import RunRecord

    sampler = RssSampler()
    marks: dict[str, dict] = {}
    order: list[str] = []

    def listener(ev) -> None:
        if ev.code == "stage_started":
            sampler.take()
            marks[ev.stage] = {"wall0": time.perf_counter(), "cpu0": _cpu()}
            order.append(ev.stage)
        elif ev.code in ("stage_finished", "stage_partial", "stage_failed") and ev.stage in marks:
            m = marks[ev.stage]
            m["wall"] = round(time.perf_counter() - m.pop("wall0"), 2)
            m["cpu"] = round(_cpu() - m.pop("cpu0"), 2)
            m["peak_rss_gb"] = sampler.take()
        if ev.code.startswith("stage_"):
            # progress on stderr (a run stopped part-way still shows how far it got)
            print(f"{time.strftime('%H:%M:%S')} {ev.code} {ev.stage} cpu_total={_cpu():.1f}s "
                  f"rss_now={RssSampler.current() / 1024**3:.2f}GB load={os.getloadavg()[0]:.1f} "
                  + (json.dumps(marks.get(ev.stage)) if ev.code != "stage_started" else ""),
                  file=sys.stderr, flush=True)

    record = RunRecord()
    record.listen(listener)
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), _cpu()
    prof = None
    if a.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.005)
        prof.start()
    res = run(a.spec, output_dir=a.output, record=record, render=not a.no_report)
    if prof is not None:
        prof.stop()
        a.profile.write_text(prof.output_html())
        a.profile.with_suffix(".txt").write_text(prof.output_text(unicode=False, color=False, show_all=False))
    out = {"label": a.label, "spec": str(a.spec), "status": res.status, "report_error": res.report_error,
           "wall_seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(_cpu() - c0, 1),
           "peak_rss_gb": _rss_gb(), "load_before": [round(x, 1) for x in load0],
           "load_after": [round(x, 1) for x in os.getloadavg()],
           "stages": {k: {kk: marks[k].get(kk) for kk in ("wall", "cpu", "peak_rss_gb")} for k in order},
           "note": "stage peak_rss_gb: highest sampled RSS (0.2 s) of the process and its children during the stage"}
    print(json.dumps(out))
    if a.results:
        with a.results.open("a") as fh:
            fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
