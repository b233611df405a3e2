"""Configuration of the qualitative stage (the spec's ``qual`` section)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .joint import JointDisplayEntry


class QualConfig(BaseModel):
    """Settings for :func:`evaltool.qual.stage.run_stage`.

    Examples
    --------
    >>> QualConfig(segments="segments.csv", quotes_per_theme=2).min_group_size
    3
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    codebook: Path | None = Field(None, description="Codebook YAML or REFI .qdc; default the starter codebook.")
    segments: Path | None = Field(None, description="Coded segments: contract CSV/XLSX, .qdpx, QualCoder coding report "
                                 "(CSV/XLSX) or Taguette export.")
    format: Literal["auto", "csv", "qdpx", "qualcoder", "taguette"] = Field(
        "auto", description="Segments format; auto: .qdpx by extension, otherwise the CSV contract.")
    participants: Path | None = Field(
        None, description="participant_id, role, site (optionally document_id): fills role/site for exports "
                          "that lack them. Columns with 'name' in their header are added to the redaction list.")
    redaction_list: Path | None = Field(None, description="Names and identifiers to mask in quotes (text, one per line, or CSV).")
    analyst_summaries: Path | None = Field(None, description="Framework-matrix summaries: CSV with group, theme, summary.")
    quotes_per_theme: int = Field(3, ge=0, le=20, description="Illustrative quotes per theme.")
    min_quote_chars: int = Field(40, ge=1, description="Shortest segment used as a quote.")
    max_quote_chars: int = Field(300, ge=20, description="Quotes longer than this are shortened at a word boundary.")
    min_group_size: int = Field(3, ge=1, description="Warn when a role-and-site attribution covers fewer participants.")
    coarsen_small_groups: bool = Field(False, description="Attribute quotes from small groups by role only.")
    kappa_threshold: float = Field(0.6, ge=-1, le=1, description="Codes with kappa below this are flagged.")
    coders: tuple[str, str] | None = Field(None, description="The two coders compared; default the pair sharing most documents.")
    primary_coder: str | None = Field(None, description="Coder counted in summaries for double-coded documents.")
    role_attribute: str = Field("role", description="QualCoder case/file attribute holding the participant's role "
                                "(read from CaseVar_<name> or FileVar_<name>, any case).")
    site_attribute: str = Field("site", description="QualCoder case/file attribute holding the participant's site.")
    taguette_coder: str = Field("unknown", description="Coder name recorded for Taguette exports (which carry none).")
    cooccurrence_mode: Literal["overlap", "same_segment"] = Field("overlap", description="Co-occurrence definition.")
    framework_by: Literal["role", "site"] = Field("role", description="Rows of the framework matrix.")
    joint_display: tuple[JointDisplayEntry, ...] = Field((), description="Rows of the mixed-methods joint display.")
