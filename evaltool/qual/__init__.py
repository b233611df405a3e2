"""Qualitative coding: codebooks, coded-segment importers, summaries, agreement, quotes, joint display.

Public entry points::

    from evaltool.qual import read_qdpx, agreement
    project = read_qdpx("project.qdpx")          # .segments, .codebook, .documents, .exclusions
    agreement(project).to_frame()                # per-code kappa (character/segment/document) and alpha
"""
from __future__ import annotations

from .agreement import AgreementResult, agreement, cohen_kappa
from .alpha import krippendorff_alpha, krippendorff_alpha_nominal
from .codebook import Codebook, build_codebook, read_codebook, read_qdc, starter_codebook_path
from .config import QualConfig
from .joint import JointDisplayEntry, JointDisplayResult, joint_display
from .qdpx import read_qdpx
from .qualcoder import read_qualcoder
from .quotes import QuoteResult, read_redaction_list, redact, select_quotes
from .segments import QdaProject, read_segments, reconcile, validate_segments
from .summaries import (
    CooccurrenceResult,
    FrameworkResult,
    FrequencyResult,
    cooccurrence,
    framework_matrix,
    frequencies,
    primary_segments,
    read_analyst_summaries,
)
from .taguette import read_taguette

__all__ = [
    "AgreementResult", "Codebook", "CooccurrenceResult", "FrameworkResult", "FrequencyResult",
    "JointDisplayEntry", "JointDisplayResult", "QdaProject", "QualConfig", "QuoteResult",
    "agreement", "build_codebook", "cohen_kappa", "cooccurrence", "framework_matrix", "frequencies",
    "joint_display", "krippendorff_alpha", "krippendorff_alpha_nominal", "primary_segments", "read_analyst_summaries",
    "read_codebook", "read_qdc", "read_qdpx", "read_qualcoder", "read_redaction_list", "read_segments",
    "read_taguette", "reconcile", "redact", "select_quotes", "starter_codebook_path", "validate_segments",
]
