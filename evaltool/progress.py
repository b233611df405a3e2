"""Progress inside long stages: a callback the stages accept, shown by the CLI as progress bars.

A stage that loops (matching over enrolment months' risk sets, effects over outcomes, the roll-out
over outcomes) takes ``progress: StepFn | None`` and calls ``progress(done, total, what)`` as it
goes: ``done`` of ``total`` units finished, ``what`` naming the unit being worked on. The pipeline
passes one per stage (``evaltool.run(..., steps=...)`` receives ``(stage, done, total, what)``); in a
notebook, pass your own (e.g. to update a tqdm bar). Core layer: no evaltool imports.

Examples
--------
>>> seen = []
>>> for _ in steps(["a", "b"], lambda d, t, w: seen.append((d, t, w))):
...     pass
>>> seen
[(0, 2, 'a'), (1, 2, 'b'), (2, 2, 'done')]
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["StepFn", "StageStepFn", "steps"]

#: ``progress(done, total, what)``: a stage's progress callback.
StepFn = Callable[[int, int, str], None]
#: ``steps(stage, done, total, what)``: the pipeline's, for every stage.
StageStepFn = Callable[[str, int, int, str], None]

T = TypeVar("T")


def steps(items: Iterable[T], progress: StepFn | None, label: Callable[[T], str] = str) -> Iterator[T]:
    """Yield ``items``, reporting ``(i, n, label(item))`` before each and ``(n, n, "done")`` after the last."""
    seq = list(items)
    n = len(seq)
    for i, item in enumerate(seq):
        if progress is not None:
            progress(i, n, label(item))
        yield item
    if progress is not None:
        progress(n, n, "done")
