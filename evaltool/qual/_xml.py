"""Safe XML parsing for REFI-QDA files (defusedxml-style: no DTDs, no entities).

A .qde/.qdc file comes from outside: a document type declaration could define entities
that expand without limit ("billion laughs") or point at external files. REFI-QDA files
never need a DTD, so any DTD or entity declaration is refused before it is processed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from evaltool.errors import DataValidationError


def _forbid(what: str, source: str):
    def handler(*args: object) -> None:
        raise DataValidationError(
            f"{source}: the XML contains a {what}; REFI-QDA files never need one and evaltool "
            "refuses them for safety (entity expansion / external entities). Remove the "
            "<!DOCTYPE ...> block and re-export."
        )

    return handler


def parse_xml(data: bytes, source: str) -> ET.Element:
    """Parse ``data`` into an element tree root, refusing DTDs and entity declarations.

    Parameters
    ----------
    data:
        The raw XML bytes.
    source:
        Name used in error messages (file name inside the archive).

    Returns
    -------
    xml.etree.ElementTree.Element
        The root element.

    Examples
    --------
    >>> parse_xml(b"<a><b/></a>", "x.xml").tag
    'a'
    """
    # pyexpat directly (the C-accelerated ElementTree parser hides its expat object): the DTD
    # hooks fire before any declaration is processed, so nothing is ever expanded or fetched.
    parser = expat.ParserCreate(namespace_separator="}")
    builder = ET.TreeBuilder()

    def qname(tag: str) -> str:
        return "{" + tag if "}" in tag else tag

    parser.StartElementHandler = lambda tag, attrs: builder.start(
        qname(tag), {qname(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(qname(tag))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _forbid("document type declaration (DTD)", source)
    parser.EntityDeclHandler = _forbid("entity declaration", source)
    parser.UnparsedEntityDeclHandler = _forbid("unparsed entity declaration", source)
    parser.ExternalEntityRefHandler = _forbid("external entity reference", source)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise DataValidationError(
            f"{source}: not well-formed XML ({expat.ErrorString(err.code)} at line {err.lineno}, "
            f"column {err.offset}); expected a REFI-QDA document. Check that the file was exported completely."
        ) from None
    return builder.close()


def local(tag: str) -> str:
    """Tag name without its ``{namespace}`` prefix (vendors differ in namespace use)."""
    return tag.rsplit("}", 1)[-1]


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    """Direct children called ``name`` whatever their namespace."""
    return [c for c in elem if local(c.tag) == name]


def child(elem: ET.Element, name: str) -> ET.Element | None:
    """First direct child called ``name`` or None."""
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def iter_local(elem: ET.Element, name: str):
    """All descendants called ``name`` whatever their namespace."""
    for e in elem.iter():
        if local(e.tag) == name:
            yield e
