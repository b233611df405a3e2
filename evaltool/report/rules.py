"""Publication rules: what may leave the bundle, configured in the spec's ``report.disclosure``.

Three rules, each with the default of the convention it follows:

* ``hes`` (default for counts of people and events): NHS Digital, *Disclosure control methodology for
  Hospital Episode Statistics (HES) and Emergency Care Data Set (ECDS)* (2018) and the HES Analysis
  Guide, for sub-national figures: 0 stays 0; 1-7 shown as ``*``; every other count rounded to the
  nearest 5; means, medians, rates and percentages whose count is suppressed are suppressed; percentages
  are worked out from the rounded counts (whole numbers unless the rounded denominator is at least
  4,000, then one decimal place). Model estimates and their confidence intervals are exempt; the unit
  counts beside them are rounded.
* ``fft`` (Friends and Family Test tables): NHS England's FFT publication rule: 1-4 responses
  suppressed, no rounding, and the next smallest response in the group suppressed as well.
* ``qual`` (qualitative counts of participants, interviews and coded segments): counts from 1 to
  ``min_count - 1`` are shown as "fewer than N" (or a band such as "1-7"), never a number, and never
  beside a role label that would identify one person (groups under ``min_count`` are not published by
  role); no rounding by default.

On top of every rule, secondary suppression hides complementary cells until no suppressed cell can be
worked out from what is published (rows, columns, totals, other tables sharing a margin) more closely
than ``protection`` (default: the width of the suppressed range, ``min_count - 2``, and at least the
rounding base). The same quantity has one published value everywhere.

Examples
--------
>>> r = DisclosureRules()
>>> (r.hes.min_count, r.hes.round_to, r.fft.min_count, r.qual.label)
(8, 5, 5, 'fewer than {min_count}')
>>> r.rule_for("prem_fft", declared=None)
'fft'
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RULE_KEYS", "RULE_SOURCES", "SUPPRESSED", "CountRule", "DisclosureRules"]

#: What a suppressed count looks like in tables under the ``hes``/``fft`` rules.
SUPPRESSED = "*"
RULE_KEYS = ("hes", "fft", "qual", "none")

RULE_SOURCES = {
    "hes": ("NHS Digital (2018). Disclosure control methodology for Hospital Episode Statistics (HES) and "
            "Emergency Care Data Set (ECDS); HES Analysis Guide, small numbers and rounding of sub-national "
            "figures. https://digital.nhs.uk/data-and-information/data-tools-and-services/data-services/"
            "hospital-episode-statistics/change-to-disclosure-control-methodology-for-hes-and-ecds-from-"
            "september-2018"),
    "fft": ("NHS England. Friends and Family Test: publication of data (suppression of 1-4 responses with "
            "secondary suppression of the next smallest in the group)."),
    "qual": ("Qualitative reporting practice: participant counts under the threshold reported as 'fewer than N', "
             "never attributed to an identifiable individual (evaltool default; same threshold as HES)."),
    "none": "Not a count of people or events (model estimates, agreement statistics): not controlled.",
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CountRule(_Strict):
    """One publication rule for counts.

    Attributes
    ----------
    min_count:
        Smallest count published as a number; 1 to ``min_count - 1`` are suppressed (0 stays 0).
    round_to:
        Published counts are rounded to the nearest multiple (halves up); 1 = no rounding.
    label:
        How a suppressed count is written: ``"*"`` or a phrase with ``{min_count}`` (e.g.
        ``"fewer than {min_count}"``) or a band such as ``"1-{max_small}"``.
    """

    min_count: int = Field(8, ge=1, le=1000, description="Counts from 1 to min_count - 1 are suppressed.")
    round_to: int = Field(5, ge=1, le=1000, description="Published counts are rounded to a multiple of this.")
    label: str = Field(SUPPRESSED, max_length=40, description="Text shown for a suppressed count.")

    @model_validator(mode="after")
    def _label_ok(self) -> CountRule:
        try:
            self.label.format(min_count=self.min_count, max_small=self.min_count - 1)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"label {self.label!r}: only {{min_count}} and {{max_small}} may be used ({err})") from err
        return self

    def suppressed_text(self) -> str:
        """The text printed in place of a suppressed count.

        Examples
        --------
        >>> CountRule(label="fewer than {min_count}").suppressed_text()
        'fewer than 8'
        """
        return self.label.format(min_count=self.min_count, max_small=self.min_count - 1)


class DisclosureRules(_Strict):
    """``report.disclosure`` in the spec: which rules apply and how strictly.

    Attributes
    ----------
    enabled:
        False only for an internal analyst copy: the report then says it must not be published.
    min_count, round_to:
        The HES rule's threshold and rounding base (kept at top level for older specs).
    secondary:
        Secondary suppression (on by default).
    protection:
        How wide (in counts) the range an attacker can narrow any suppressed cell to must stay;
        default ``max(min_count - 2, round_to)`` (the full 1-7 range under HES).
    fft, qual:
        The Friends and Family Test and qualitative rules.
    tables:
        Per-table override of the rule (``{"prem_fft": "fft", "my_table": "none"}``).
    """

    enabled: bool = True
    rule: Literal["hes", "fft"] = Field("hes", description="Rule for count tables without a rule of their own.")
    min_count: int = Field(8, ge=1, le=1000, description="Counts below this (but above 0) are suppressed.")
    round_to: int = Field(5, ge=1, le=1000, description="Counts are rounded to the nearest multiple of this.")
    secondary: bool = True
    protection: int | None = Field(None, ge=0, le=10000)
    fft: CountRule = CountRule(min_count=5, round_to=1)
    qual: CountRule = CountRule(min_count=8, round_to=1, label="fewer than {min_count}")
    tables: dict[str, Literal["hes", "fft", "qual", "none"]] = Field(default_factory=dict)

    @property
    def hes(self) -> CountRule:
        """The HES rule (built from ``min_count`` and ``round_to``)."""
        return CountRule(min_count=self.min_count, round_to=self.round_to)

    def count_rule(self, key: str) -> CountRule:
        """The :class:`CountRule` of ``key`` ("hes", "fft" or "qual")."""
        if key == "fft":
            return self.fft
        if key == "qual":
            return self.qual
        return self.hes

    def protection_for(self, key: str) -> int:
        """Width a suppressed cell's feasible range must keep under rule ``key``.

        Examples
        --------
        >>> DisclosureRules().protection_for("hes"), DisclosureRules().protection_for("fft")
        (6, 3)
        """
        if self.protection is not None:
            return self.protection
        r = self.count_rule(key)
        return max(r.min_count - 2, r.round_to if r.round_to > 1 else 0, 1)

    def rule_for(self, name: str, declared: str | None) -> str:
        """Which rule a table follows: the spec's override, the stage's declaration, then its name.

        Friends and Family Test tables (``fft`` or ``friends_and_family`` in the name) follow the FFT
        rule; qualitative tables (``qual_`` prefix, ``joint_display``) the qualitative rule.
        """
        if name in self.tables:
            return self.tables[name]
        if declared in RULE_KEYS:
            return str(declared)
        low = name.lower()
        if "fft" in low.split("_") or "friends_and_family" in low:
            return "fft"
        if low.startswith("qual_") or low == "joint_display":
            return "qual"
        return "hes" if self.rule == "hes" else "fft"
