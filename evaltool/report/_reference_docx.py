"""Build ``assets/reference.docx`` (Word styles) from pandoc's default reference document.

Run once when styles change: ``python -m evaltool.report._reference_docx``. It starts from
``pandoc --print-default-data-file reference.docx`` and sets Arial (NHS identity typeface
for Office documents), NHS Blue headings, and a shaded "Callout" paragraph style used for
the report's notes. The zip is written with fixed timestamps so the file is reproducible.
"""
from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

ASSET = Path(__file__).parent / "assets" / "reference.docx"
NHS_BLUE = "005EB8"

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


if __name__ == "__main__":
    print(build())
