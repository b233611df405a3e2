"""Southvale example data: interview transcripts coded by two analysts, with known truth.

``generate_qual(practices, seed, out_dir)`` writes into ``out_dir``:

* ``transcripts/D01.txt`` ... ``D30.txt``: synthetic interviews (UTF-8, LF line endings) with
  GPs, practice and community nurses, social workers, managers, patients and carers across the
  Southvale neighbourhoods (the sites). Text includes non-ASCII characters (£, –, ’, é) so
  code-point offsets differ from byte offsets.
* ``codebook.yaml``: the evaltool starter codebook (integration ingredients and barriers).
* ``segments.csv``: ~1,500 coded segments in evaltool's contract (document_id, participant_id,
  role, site, coder, code, text, start, end); ``coder_a`` codes every interview, ``coder_b``
  double-codes 12. Coder B misses or swaps some codes (four "hard" codes are confused with a
  neighbour often, giving kappa below 0.6) and sometimes codes the whole answer rather than the
  sentence.
* ``southvale.qdpx``: the same project as a REFI-QDA exchange file (cases carry role and site).
* ``qualcoder_export.csv`` (QualCoder's coding report by case with attributes: Case, Filename, Coder,
  Coded, Id, Codename, Coded_Memo, Category, CaseVar_Role, CaseVar_Site) and
  ``taguette_highlights.csv`` (id, document, tag, content; coder A only: Taguette has no coders).
* ``participants.csv``: participant_id, document_id, name, role, site. Names are fictional and
  some appear inside coded text (colleagues mentioned by first name): redaction tests use them.
* ``analyst_summaries.csv``: a few framework-matrix summaries (group, theme, summary).
* ``truth.json``: the returned truth.

The truth (returned and written) holds code frequencies per coder, segments per code and role
for coder A, and per-code character-level Cohen's kappa computed by brute force on per-character
arrays (an implementation independent of evaltool.qual). Imports core only.
"""
from __future__ import annotations

import json
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import yaml

ROLES = {  # role: number of interviews
    "GP": 5, "Practice nurse": 4, "Community nurse": 4, "Social worker": 5, "Manager": 4,
    "Patient": 5, "Carer": 3,
}
LAY = {"Patient", "Carer"}
CODERS = ("coder_a", "coder_b")
N_DOUBLE = 14
_NS = uuid.UUID("6f1c1a52-3b7e-4e8e-9a4c-5d2b8e0f1a11")
_TIMESTAMP = "2025-03-31T12:00:00Z"

FIRST = ["Amara", "Bethan", "Callum", "Deepa", "Eilidh", "Femi", "Gareth", "Hana", "Ioan", "Jasmine",
         "Kwame", "Lowri", "Mateusz", "Niamh", "Oluwaseun", "Priyanka", "Quentin", "Rhiannon", "Siddharth",
         "Tamsin", "Ugo", "Vesna", "Wilf", "Xanthe", "Yusuf", "Zofia", "Ambrose", "Bronwen", "Cosmo", "Delphine"]
LAST = ["Okafor", "Pritchard", "Haddow", "Venkatesan", "Strachan", "Adeyemi", "Llewellyn", "Takahashi",
        "Gruffydd", "Beaumont", "Mensah", "Cadwaladr", "Kowalczyk", "Gallagher", "Balogun", "Raghunathan",
        "Fairweather", "Penhaligon", "Chaudhry", "Trevelyan", "Nwachukwu", "Petrović", "Hargreaves",
        "Quennell", "Demir", "Wiśniewska", "Ashdown", "Morgana", "Tregothnan", "Lacroix"]

# Sentence templates per code; {colleague} is another participant's first name.
STAFF = {
    "records_shared_access": [
        "Now I can open the shared care record and see the social care assessment before I ring anyone.",
        "Being able to see the community nurses’ notes from the surgery has saved us hours every week.",
        "When {colleague} updates the record I see it the same morning, which never used to happen.",
    ],
    "records_fragmented": [
        "We still re-key the same information into three systems – it’s the bane of my life.",
        "Discharge letters arrive days late and half the time nobody knows which system holds the care plan.",
        "I end up phoning round the hospital wards just to find out what happened to someone.",
    ],
    "values_common_purpose": [
        "In the end we all want the same thing: keeping people well and at home.",
        "It feels like one team now rather than health on one side and social care on the other.",
    ],
    "values_shared_standards": [
        "We agreed one referral form and one set of criteria across the neighbourhood.",
        "The joint assessment protocol means we stopped assessing the same person twice.",
    ],
    "commissioning_outcomes": [
        "The contract is written around outcomes for the population, not the number of contacts.",
        "Commissioners now ask us how many people stayed independent, not how many visits we did.",
    ],
    "prevention_proactive": [
        "We go through the frailty list every month and reach people before they end up in A&E.",
        "The risk tool flags people early, so we can visit before a crisis rather than after.",
    ],
    "prevention_self_care": [
        "Social prescribing has got people into groups at the café and the community centre.",
        "We spend time helping people manage their own conditions so they feel in control.",
    ],
    "learning_mdt": [
        "The weekly MDT is where it all comes together – GP, nurses, social work and the therapists.",
        "The morning huddle is ten minutes but we sort out more there than in a week of emails.",
        "At the MDT {colleague} talked through a case and we had a plan within the hour.",
    ],
    "learning_roles": [
        "Shadowing {colleague} for a day showed me what a social worker actually does.",
        "Honestly I didn’t know what the community matrons could do until the joint training.",
    ],
    "leadership_clinical": [
        "Having a GP lead who champions the model made everyone take it seriously.",
        "Our clinical lead gave us permission to try things and not be punished if they failed.",
    ],
    "accountability_clear": [
        "Everyone knows who the named care coordinator is, so nothing falls between the cracks.",
        "The escalation route is clear now – if something goes wrong we know who owns it.",
    ],
    "incentives_aligned": [
        "The pooled budget means nobody gains by pushing costs onto someone else.",
        "Shared savings gave the practices a reason to put time into the team.",
    ],
    "care_planning_personalised": [
        "We ask people what matters to them and build the care plan around that.",
        "Advance care plans are written with the person and their family, not for them.",
    ],
    "care_continuity": [
        "People have one number to ring and they get someone who knows them.",
        "Continuity matters: the same worker sees the person rather than a different face each week.",
    ],
    "culture_trust": [
        "We trust each other’s assessments now, so we don’t redo them.",
        "I just pick up the phone to {colleague} now – that relationship is what makes it work.",
    ],
    "culture_change_mindset": [
        "It’s gone from ‘my patient’ to ‘our patient’, which is a big shift for some GPs.",
        "People are more willing to take positive risks to keep someone at home.",
    ],
    "barrier_professional_boundaries": [
        "There is still a hierarchy – some consultants won’t take advice from a nurse.",
        "You hear ‘that’s not my job’ far too often when it comes to personal care tasks.",
    ],
    "barrier_separate_accountability": [
        "The trust and the council answer to different regulators and different budgets.",
        "We get cost shunting – the hospital saves £10,000 and the council pays it twice over.",
    ],
    "barrier_information_governance": [
        "We waited eighteen months for the data-sharing agreement to be signed.",
        "Nobody is sure what consent covers, so people default to not sharing at all.",
    ],
    "barrier_workforce_capacity": [
        "We have two vacancies and agency staff can’t come to the MDT, so it falls apart.",
        "Caseloads are so high there is no time left for joint visits.",
    ],
    "barrier_change_fatigue": [
        "This is the fourth restructure I’ve seen – people are tired of another pilot.",
        "Short-term funding means staff assume it will be gone next year, so why invest?",
    ],
}
LAY_TEMPLATES = {
    "care_planning_personalised": [
        "They asked me what mattered to me – getting to my granddaughter’s wedding – and planned around it.",
        "The plan was written with me and my daughter, not just handed over.",
    ],
    "care_continuity": [
        "I have one number to ring and {colleague} answers, she knows my history.",
        "I don’t have to tell my story again every time someone new comes round.",
    ],
    "records_fragmented": [
        "The hospital didn’t know what the GP had changed, so I had to explain my tablets again.",
        "Nobody seemed to have my notes – I carried a folder around to every appointment.",
    ],
    "records_shared_access": [
        "The nurse could see what the hospital had done, so she knew before she arrived.",
    ],
    "prevention_self_care": [
        "The group at the café got me out of the house and I feel more in control of my breathing.",
        "They showed me how to manage my sugar levels myself, so I panic less.",
    ],
    "prevention_proactive": [
        "Someone rang me before winter to check I was coping, which nobody had done before.",
    ],
    "learning_mdt": [
        "They told me the whole team had talked about me at a meeting, which was reassuring.",
    ],
    "culture_trust": [
        "I trust them now because they do what they say they’ll do.",
    ],
    "barrier_workforce_capacity": [
        "The carers change every week because they are so short-staffed.",
        "You can see the nurses are run ragged, there just aren’t enough of them.",
    ],
    "accountability_clear": [
        "I know exactly who to call – {colleague} is my key worker.",
    ],
}
FILLERS = [
    "That’s been the biggest change for me.", "It isn’t perfect, mind.", "I’d say that’s fairly typical.",
    "We’re still learning, to be honest.", "It depends on the week.", "That surprised me at first.",
]
QUESTIONS_STAFF = [
    "Can you tell me about how the team works day to day?", "What has changed since the programme started?",
    "What gets in the way?", "How do you share information with other services?",
    "Can you give me an example of a recent case?", "What would you change?",
]
QUESTIONS_LAY = [
    "Can you tell me about the support you get?", "What has changed for you over the last year?",
    "Who do you contact if things get worse?", "Is there anything that could be better?",
]
# Code confusions: coder B applies the neighbour instead (hard codes: low kappa by design).
HARD = {
    "culture_change_mindset": ("values_common_purpose", 0.55),
    "values_common_purpose": ("culture_trust", 0.50),
    "incentives_aligned": ("commissioning_outcomes", 0.55),
    "commissioning_outcomes": ("incentives_aligned", 0.50),
}
# Codes often applied to the same passage as another (same span): gives the co-occurrence matrix
# its structure. code -> (co-code, probability).
CO_CODE = {
    "learning_mdt": ("culture_trust", 0.35),
    "records_fragmented": ("barrier_information_governance", 0.30),
    "prevention_proactive": ("learning_mdt", 0.30),
    "leadership_clinical": ("culture_change_mindset", 0.35),
    "barrier_workforce_capacity": ("learning_mdt", 0.30),
    "care_planning_personalised": ("care_continuity", 0.30),
    "incentives_aligned": ("barrier_separate_accountability", 0.30),
    "culture_trust": ("learning_roles", 0.25),
}
MISS_B = 0.08  # coder B misses an easy code
WHOLE_ANSWER_B = 0.25  # coder B codes the whole answer instead of the sentence
MISS_A = 0.03
SITE_BOOST = {  # site-specific salience, so summaries by site differ
    0: {"records_shared_access": 3.0}, 1: {"barrier_information_governance": 3.0},
    2: {"learning_mdt": 2.5}, 3: {"barrier_workforce_capacity": 3.0}, 4: {"leadership_clinical": 2.5},
}


def toy_practices() -> pd.DataFrame:
    """A small practices frame (practice_id, neighbourhood) for use without the Southvale generator."""
    hoods = ["Northgate", "Riverside", "Eastbrook", "Westmoor", "Southfield"]
    return pd.DataFrame({"practice_id": [f"P{i:03d}" for i in range(1, 11)],
                         "neighbourhood": [hoods[i % 5] for i in range(10)]})


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts))).upper()


def _participants(sites: list[str], rng: np.random.Generator) -> pd.DataFrame:
    roles = [r for r, n in ROLES.items() for _ in range(n)]
    n = len(roles)
    first = rng.permutation(FIRST)[:n]
    last = rng.permutation(LAST)[:n]
    site_idx = rng.permutation(np.arange(n) % len(sites))
    return pd.DataFrame({
        "participant_id": [f"P{i + 1:02d}" for i in range(n)],
        "document_id": [f"D{i + 1:02d}" for i in range(n)],
        "name": [f"{f} {s}" for f, s in zip(first, last)],
        "role": roles,
        "site": [sites[i] for i in site_idx],
    })


def _write_transcript(p: pd.Series, others: list[str], site_no: int, rng: np.random.Generator,
                      codes: list[str]) -> tuple[str, list[dict]]:
    """One interview: text plus the true coding of each answer (spans in code points)."""
    lay = p["role"] in LAY
    bank = LAY_TEMPLATES if lay else STAFF
    names = list(bank)
    weight = np.array([SITE_BOOST[site_no % 5].get(c, 1.0) for c in names])
    weight = weight / weight.sum()
    questions = QUESTIONS_LAY if lay else QUESTIONS_STAFF
    text = f"Interview {p['document_id']} – {p['role']}, {p['site']}\n\n"
    text += "Interviewer: Thank you for taking part. Could you introduce yourself?\n"
    text += f"Respondent: I’m {p['name']} and I’ve been involved with the neighbourhood team for a while.\n\n"
    truth = []
    for _ in range(int(rng.integers(22, 28))):
        text += f"Interviewer: {questions[int(rng.integers(len(questions)))]}\n"
        text += "Respondent: "
        answer_start = len(text)
        k = 1 if rng.random() < 0.75 else 2
        chosen = rng.choice(len(names), size=k, replace=False, p=weight)
        parts = []
        for ci in chosen:
            tpl = bank[names[ci]]
            sentence = tpl[int(rng.integers(len(tpl)))].replace("{colleague}", str(rng.choice(others)))
            parts.append((names[ci], sentence))
        if rng.random() < 0.5:
            parts.insert(int(rng.integers(len(parts) + 1)), (None, FILLERS[int(rng.integers(len(FILLERS)))]))
        pos = answer_start
        spans = []
        for code, sentence in parts:
            if pos > answer_start:
                text += " "
                pos += 1
            text += sentence
            if code is not None:
                spans.append((code, pos, pos + len(sentence)))
                if code in CO_CODE and rng.random() < CO_CODE[code][1]:
                    spans.append((CO_CODE[code][0], pos, pos + len(sentence)))
            pos += len(sentence)
        answer_end = len(text)
        text += "\n\n"
        for code, s, e in spans:
            truth.append({"code": code, "start": s, "end": e, "answer_start": answer_start, "answer_end": answer_end})
    return text, truth


def _code_segments(truth: list[dict], coder: str, rng: np.random.Generator) -> list[dict]:
    rows = []
    for t in truth:
        code, s, e = t["code"], t["start"], t["end"]
        if coder == "coder_a":
            if rng.random() < MISS_A:
                continue
        else:
            if code in HARD and rng.random() < HARD[code][1]:
                code = HARD[code][0]
            elif rng.random() < MISS_B:
                continue
            if rng.random() < WHOLE_ANSWER_B:
                s, e = t["answer_start"], t["answer_end"]
        rows.append({"code": code, "start": s, "end": e, "coder": coder})
    return rows


def _char_kappas(seg: pd.DataFrame, lengths: dict[str, int]) -> dict[str, float]:
    """Brute-force character-level kappa per code, pooled over the double-coded documents.

    One boolean array per coder, code and character; deliberately simple and independent of
    evaltool.qual's interval arithmetic, so tests can compare the two.
    """
    codes = sorted(set(seg["code"]))
    pos = {c: i for i, c in enumerate(codes)}
    offset = dict(zip(lengths, np.cumsum([0] + list(lengths.values()))[:-1]))
    total = sum(lengths.values())
    marks = {c: np.zeros((len(codes), total), dtype=bool) for c in CODERS}
    for d, coder, code, s, e in zip(seg["document_id"], seg["coder"], seg["code"], seg["start"], seg["end"]):
        if d in offset:
            marks[coder][pos[code], offset[d] + s: offset[d] + e] = True
    out = {}
    for code, i in pos.items():
        a, b = marks["coder_a"][i], marks["coder_b"][i]
        po = np.mean(a == b)
        pe = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
        out[code] = float("nan") if pe == 1 else float((po - pe) / (1 - pe))
    return out


def _qde(parts: pd.DataFrame, texts: dict[str, str], seg: pd.DataFrame, codebook: dict) -> str:
    """A REFI-QDA project.qde for the project (Users, CodeBook, Variables, Cases, Sources)."""
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<Project xmlns="urn:QDA-XML:project:1.0" name="Southvale integrated care interviews" '
           f'origin="evaltool example generator" creationDateTime="{_TIMESTAMP}">', "<Users>"]
    out += [f'<User guid="{_guid("user", c)}" name="{c}"/>' for c in CODERS]
    out += ["</Users>", "<CodeBook>", "<Codes>"]
    for th in codebook["themes"]:
        out.append(f'<Code guid="{_guid("theme", th["theme"])}" name={quoteattr(th["theme"])} isCodable="false">')
        out.append(f"<Description>{escape(th.get('label', ''))}</Description>")
        for c in th["codes"]:
            out.append(f'<Code guid="{_guid("code", c["code"])}" name={quoteattr(c["code"])} isCodable="true">'
                       f"<Description>{escape(c.get('definition', ''))}</Description></Code>")
        out.append("</Code>")
    out += ["</Codes>", "</CodeBook>", "<Variables>"]
    out += [f'<Variable guid="{_guid("var", v)}" name="{v}" typeOfVariable="Text"/>' for v in ("role", "site")]
    out += ["</Variables>", "<Cases>"]
    for p in parts.itertuples():
        out.append(f'<Case guid="{_guid("case", p.participant_id)}" name="{p.participant_id}">')
        for v in ("role", "site"):
            out.append(f'<VariableValue><VariableRef targetGUID="{_guid("var", v)}"/>'
                       f"<TextValue>{escape(getattr(p, v))}</TextValue></VariableValue>")
        out.append(f'<SourceRef targetGUID="{_guid("source", p.document_id)}"/></Case>')
    out += ["</Cases>", "<Sources>"]
    for doc in sorted(texts):
        sg = _guid("source", doc)
        out.append(f'<TextSource guid="{sg}" name="{doc}.txt" plainTextPath="internal://{sg}.txt">')
        for r in seg[seg["document_id"] == doc].itertuples():
            sel = _guid("sel", doc, r.coder, r.code, str(r.start), str(r.end))
            uid = _guid("user", r.coder)
            out.append(f'<PlainTextSelection guid="{sel}" name={quoteattr(r.text[:60])} startPosition="{r.start}" '
                       f'endPosition="{r.end}" creatingUser="{uid}">'
                       f'<Coding guid="{_guid("coding", sel)}" creatingUser="{uid}">'
                       f'<CodeRef targetGUID="{_guid("code", r.code)}"/></Coding></PlainTextSelection>')
        out.append("</TextSource>")
    out += ["</Sources>", "</Project>"]
    return "\n".join(out) + "\n"


def _write_qualcoder(path: Path, seg: pd.DataFrame, codebook: dict) -> None:
    """The coded segments as QualCoder's coding report exported by case with attributes: headers Case, Filename,
    Coder, Coded, Id, Codename, Coded_Memo, Category, CaseVar_Role, CaseVar_Site; UTF-8 with BOM, every cell
    quoted, CR LF (as QualCoder's csv.writer writes them; see evaltool.qual.qualcoder)."""
    import csv

    category = {c["code"]: th.get("label", th["theme"]) for th in codebook["themes"] for c in th["codes"]}
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(["Case", "Filename", "Coder", "Coded", "Id", "Codename", "Coded_Memo", "Category",
                    "CaseVar_Role", "CaseVar_Site"])
        for i, r in enumerate(seg.itertuples(), start=1):
            w.writerow([r.participant_id, f"{r.document_id}.txt", r.coder, r.text, f"ctid:{i}", r.code, "",
                        category[r.code], r.role, r.site])


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    """Deterministic zip: fixed timestamps and order, so the same seed gives identical bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(2025, 3, 31, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])


def generate_qual(practices: pd.DataFrame, seed: int, out_dir: Path) -> dict[str, Any]:
    """Write the Southvale qualitative example project and return its truth.

    Parameters
    ----------
    practices:
        Practices with a ``neighbourhood`` column; its neighbourhoods become the sites.
    seed:
        Seed for ``numpy.random.default_rng``.
    out_dir:
        Folder to write (created if needed).

    Returns
    -------
    dict
        ``n_documents``, ``n_double_coded``, ``n_segments`` (per coder), ``code_frequencies``
        (per coder: segments per code), ``segments_by_code_role`` (coder A), ``kappa_char``
        (per code, pooled over double-coded documents), ``hard_codes``, ``document_lengths``.

    Examples
    --------
    >>> import tempfile
    >>> truth = generate_qual(toy_practices(), 1, Path(tempfile.mkdtemp()))
    >>> truth["n_documents"]
    30
    """
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "transcripts").mkdir(parents=True, exist_ok=True)
    if "neighbourhood" not in practices.columns:
        raise ValueError(f"`practices` needs a `neighbourhood` column; found {list(practices.columns)}")
    sites = sorted(practices["neighbourhood"].dropna().astype(str).unique())
    starter = Path(__file__).resolve().parent.parent / "data" / "codebooks" / "integration_starter.yaml"
    codebook = yaml.safe_load(starter.read_text(encoding="utf-8"))
    codes = [c["code"] for t in codebook["themes"] for c in t["codes"]]
    unknown = sorted((set(STAFF) | set(LAY_TEMPLATES)) - set(codes))
    if unknown:  # the templates must stay in step with the starter codebook
        raise ValueError(f"templates cite codes missing from the starter codebook: {unknown}")

    parts = _participants(sites, rng)
    first_names = [n.split()[0] for n in parts["name"]]
    texts: dict[str, str] = {}
    rows = []
    double = set(rng.choice(parts["document_id"].to_numpy(), size=N_DOUBLE, replace=False).tolist())
    for i, p in parts.iterrows():
        others = [f for j, f in enumerate(first_names) if j != i]
        text, truth = _write_transcript(p, others, sites.index(p["site"]), rng, codes)
        texts[p["document_id"]] = text
        for coder in CODERS:
            if coder == "coder_b" and p["document_id"] not in double:
                continue
            for r in _code_segments(truth, coder, rng):
                rows.append({"document_id": p["document_id"], "participant_id": p["participant_id"],
                             "role": p["role"], "site": p["site"], **r, "text": text[r["start"]:r["end"]]})
    seg = pd.DataFrame(rows)[["document_id", "participant_id", "role", "site", "coder", "code", "text",
                              "start", "end"]]
    seg = seg.drop_duplicates(["document_id", "coder", "code", "start", "end"]).sort_values(
        ["document_id", "coder", "start", "code"], kind="stable").reset_index(drop=True)

    for doc, text in texts.items():
        (out_dir / "transcripts" / f"{doc}.txt").write_text(text, encoding="utf-8", newline="\n")
    shutil.copyfile(starter, out_dir / "codebook.yaml")
    seg.to_csv(out_dir / "segments.csv", index=False, lineterminator="\n")
    parts.to_csv(out_dir / "participants.csv", index=False, lineterminator="\n")
    members = {"project.qde": _qde(parts, texts, seg, codebook).encode("utf-8")}
    members.update({f"sources/{_guid('source', d)}.txt": t.encode("utf-8") for d, t in texts.items()})
    _write_zip(out_dir / "southvale.qdpx", members)
    _write_qualcoder(out_dir / "qualcoder_export.csv", seg, codebook)
    a = seg[seg["coder"] == "coder_a"].reset_index(drop=True)
    tg = pd.DataFrame({"id": np.arange(1, len(a) + 1), "document": a["document_id"] + ".txt",
                       "tag": a["code"], "content": a["text"]})
    tg.to_csv(out_dir / "taguette_highlights.csv", index=False, lineterminator="\n")
    pd.DataFrame({
        "group": ["GP", "Social worker", "Patient"],
        "theme": ["learning_together", "barrier_information_governance", "care_planning"],
        "summary": ["GPs value the weekly MDT but attendance depends on cover.",
                    "Social workers describe long waits for data-sharing agreements.",
                    "Patients value being asked what matters to them."],
    }).to_csv(out_dir / "analyst_summaries.csv", index=False, lineterminator="\n")

    lengths = {d: len(texts[d]) for d in sorted(double)}
    dseg = seg[seg["document_id"].isin(double)]
    truth: dict[str, Any] = {
        "seed": seed,
        "n_documents": len(texts),
        "n_participants": int(len(parts)),
        "n_double_coded": len(double),
        "double_coded_documents": sorted(double),
        "n_segments": {c: int((seg["coder"] == c).sum()) for c in CODERS},
        "code_frequencies": {c: {k: int(v) for k, v in seg[seg["coder"] == c]["code"].value_counts().sort_index().items()}
                             for c in CODERS},
        "segments_by_code_role": {f"{k[0]}|{k[1]}": int(v) for k, v in
                                  a.groupby(["code", "role"]).size().sort_index().items()},
        "kappa_char": _char_kappas(dseg, lengths),
        "hard_codes": sorted(HARD),
        "document_lengths": {d: len(t) for d, t in sorted(texts.items())},
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True, allow_nan=True) + "\n",
                                        encoding="utf-8")
    return truth


if __name__ == "__main__":  # regenerate the committed example: python -m evaltool.datasets.southvale_qual
    root = Path(__file__).resolve().parents[2] / "example_data" / "southvale"
    prac = pd.read_parquet(root / "practices.parquet") if (root / "practices.parquet").exists() else toy_practices()
    t = generate_qual(prac, 20261122, root / "qual")
    print({k: t[k] for k in ("n_documents", "n_double_coded", "n_segments")})
    print({k: round(v, 3) for k, v in t["kappa_char"].items()})
