"""Word styles: ``assets/reference.docx`` and its branded copy for each report.

``python -m evaltool.report._reference_docx`` rebuilds the shipped file from pandoc's default
reference document (Arial, NHS blue headings, a shaded "Callout" style). :func:`branded` writes
the copy a report uses: the brand's font and colours, A4 pages, a header with the organisation
and the document title, and a footer "Page N of M". Zips are written with fixed timestamps so
the files are reproducible. A spec's ``report.reference_docx`` replaces all of this.
"""
from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ASSET = Path(__file__).parent / "assets" / "reference.docx"
NHS_BLUE = "005EB8"
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' \
     'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'

_CALLOUT = (
    '<w:style w:type="paragraph" w:customStyle="1" w:styleId="Callout"><w:name w:val="Callout"/>'
    '<w:basedOn w:val="BodyText"/><w:qFormat/><w:pPr><w:pBdr><w:left w:val="single" w:sz="24" w:space="8" '
    f'w:color="{NHS_BLUE}"/></w:pBdr><w:shd w:val="clear" w:color="auto" w:fill="E8EDEE"/>'
    '<w:ind w:left="227" w:right="113"/></w:pPr></w:style>'
)


def build(dest: Path = ASSET) -> Path:
    """Write the styled reference.docx to ``dest`` and return its path."""
    import pypandoc

    raw = subprocess.run([pypandoc.get_pandoc_path(), "--print-default-data-file", "reference.docx"],
                         check=True, capture_output=True).stdout
    src = dest.with_suffix(".orig.docx")
    src.write_bytes(raw)
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in sorted(zin.infolist(), key=lambda i: i.filename):
                data = zin.read(info.filename)
                if info.filename == "word/theme/theme1.xml":
                    data = re.sub(rb'<a:latin typeface="[^"]*"', b'<a:latin typeface="Arial"', data)
                elif info.filename == "word/styles.xml":
                    s = data.decode("utf-8")
                    s = re.sub(r'w:val="(0F4761|4F81BD)"', f'w:val="{NHS_BLUE}"', s)
                    s = s.replace("</w:styles>", _CALLOUT + "</w:styles>")
                    data = s.encode("utf-8")
                zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, data)
    finally:
        src.unlink()
    return dest


def _field(code: str, shown: str) -> str:
    return ('<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
            f'<w:r><w:instrText xml:space="preserve"> {code} </w:instrText></w:r>'
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
            f'<w:r><w:t>{shown}</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>')


def _small(colour: str) -> str:
    return f'<w:rPr><w:color w:val="{colour}"/><w:sz w:val="16"/></w:rPr>'


def branded(brand: Any, dest: Path, source: Path = ASSET) -> Path:
    """Write a reference.docx with ``brand``'s font and colours, a header and page numbers."""
    primary = brand.primary.lstrip("#").upper()
    heading = brand.heading.lstrip("#").upper()
    muted = brand.muted.lstrip("#").upper()
    font = escape(brand.font)
    org = escape(brand.name)
    header = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:hdr {_W}><w:p><w:pPr><w:pStyle w:val="Header"/>'
              f'<w:tabs><w:tab w:val="right" w:pos="9638"/></w:tabs></w:pPr><w:r>{_small(muted)}<w:t xml:space="preserve">'
              f'{org}</w:t></w:r><w:r>{_small(muted)}<w:tab/></w:r>'
              + _field("TITLE", "Evaluation report").replace("<w:r>", f"<w:r>{_small(muted)}")
              + '</w:p></w:hdr>')
    footer = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:ftr {_W}><w:p><w:pPr><w:pStyle w:val="Footer"/>'
              f'<w:jc w:val="center"/></w:pPr><w:r>{_small(muted)}<w:t xml:space="preserve">Page </w:t></w:r>'
              + _field("PAGE", "1").replace("<w:r>", f"<w:r>{_small(muted)}")
              + f'<w:r>{_small(muted)}<w:t xml:space="preserve"> of </w:t></w:r>'
              + _field("NUMPAGES", "1").replace("<w:r>", f"<w:r>{_small(muted)}") + '</w:p></w:ftr>')
    sect = ('<w:sectPr><w:headerReference w:type="default" r:id="rIdEvalHdr"/>'
            '<w:footerReference w:type="default" r:id="rIdEvalFtr"/>'
            '<w:footnotePr><w:numRestart w:val="eachSect"/></w:footnotePr>'
            '<w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1247" w:right="1134" w:bottom="1247" w:left="1134" '
            'w:header="567" w:footer="567" w:gutter="0"/></w:sectPr>')
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        names = [i.filename for i in zin.infolist()]
        for name in sorted(set(names) | {"word/header1.xml", "word/footer1.xml"}):
            if name == "word/header1.xml":
                data = header.encode("utf-8")
            elif name == "word/footer1.xml":
                data = footer.encode("utf-8")
            else:
                data = zin.read(name)
            if name == "word/styles.xml":
                s = data.decode("utf-8")
                s = re.sub(r'w:val="(0F4761|4F81BD|005EB8)"', f'w:val="{heading}"', s)
                s = s.replace(f'w:color="{NHS_BLUE}"', f'w:color="{primary}"')
                s = re.sub(r'w:ascii="[^"]*"', f'w:ascii="{font}"', s)
                s = re.sub(r'w:hAnsi="[^"]*"', f'w:hAnsi="{font}"', s)
                data = s.encode("utf-8")
            elif name == "word/theme/theme1.xml":
                data = re.sub(rb'<a:latin typeface="[^"]*"', f'<a:latin typeface="{font}"'.encode(), data)
            elif name == "word/document.xml":
                s = data.decode("utf-8")
                if 'xmlns:r=' not in s.split(">", 2)[1]:
                    s = s.replace("<w:document ", '<w:document xmlns:r="http://schemas.openxmlformats.org/'
                                  'officeDocument/2006/relationships" ', 1)
                s = re.sub(r"<w:sectPr>.*?</w:sectPr>", sect, s, flags=re.S)
                data = s.encode("utf-8")
            elif name == "word/_rels/document.xml.rels":
                s = data.decode("utf-8").replace(
                    "</Relationships>",
                    '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/header" '
                    'Id="rIdEvalHdr" Target="header1.xml" /><Relationship Type="http://schemas.openxmlformats.org/'
                    'officeDocument/2006/relationships/footer" Id="rIdEvalFtr" Target="footer1.xml" />'
                    "</Relationships>")
                data = s.encode("utf-8")
            elif name == "[Content_Types].xml":
                s = data.decode("utf-8").replace(
                    "</Types>",
                    '<Override PartName="/word/header1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                    'wordprocessingml.header+xml"/><Override PartName="/word/footer1.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"/></Types>')
                data = s.encode("utf-8")
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
    return dest


if __name__ == "__main__":
    print(build())
