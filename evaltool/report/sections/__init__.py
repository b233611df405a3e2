"""Report sections: one module per section, each ``build(ctx) -> Section | None``.

The programme-team report (modelled on the Health Foundation Improvement Analytics Unit's
briefings and the BNSSG / West of England NHS evaluation toolkit) is :data:`MAIN`, in order;
the technical appendix, a separate document, is :data:`sections.appendix.APPENDIX`.

Adding a section (e.g. "Does it pay for itself?" from the economic evaluation):

1. write ``evaltool/report/sections/<name>.py`` with ``build(ctx) -> Section | None``: read numbers
   only through ``ctx.pub`` (``table(name).display``, ``fact(section, key)``), failures through
   ``ctx.record``, write tables with ``ctx.table(...)`` and figures with ``ctx.figure(...)``, and
   escape every sentence built from data with ``_common.esc``; return None when the bundle has
   nothing for it;
2. insert the module in :data:`MAIN` (or ``APPENDIX``) where it belongs;
3. register any new column or code in :mod:`evaltool.report.labels` and any technical term in
   its ``GLOSSARY`` (the glossary lists the terms a section uses automatically);
4. for a key-points paragraph, add a function to ``key_points.KEY_POINTS``.
"""
from __future__ import annotations

from evaltool.report.sections import (about, area, conclusions, difference, for_whom, how_sure, included,
                                      key_points, limitations, patients, programme, questions, together, voices)
from evaltool.report.sections.appendix import APPENDIX

#: The main report, in order (the glossary is added last, from the words these sections use).
MAIN = [key_points.build, programme.build, questions.build, included.build, difference.build, area.build,
        for_whom.build, how_sure.build, patients.build, voices.build, together.build, limitations.build, conclusions.build,
        about.build]

__all__ = ["APPENDIX", "MAIN"]
