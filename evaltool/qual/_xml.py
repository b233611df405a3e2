"""Safe XML parsing for REFI-QDA files (defusedxml-style: no DTDs, no entities).

A .qde/.qdc file comes from outside: a document type declaration could define entities
that expand without limit ("billion laughs") or point at external files. REFI-QDA files
never need a DTD, so any DTD or entity declaration is refused before it is processed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

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
    parser = ET.XMLParser()
    expat = parser.parser  # the pyexpat object: hooks fire before any expansion happens
    expat.StartDoctypeDeclHandler = _forbid("document type declaration (DTD)", source)
    expat.EntityDeclHandler = _forbid("entity declaration", source)
    expat.UnparsedEntityDeclHandler = _forbid("unparsed entity declaration", source)
    expat.ExternalEntityRefHandler = _forbid("external entity reference", source)
    try:
        parser.feed(data)
        return parser.close()
    except ET.ParseError as err:
        raise DataValidationError(
            f"{source}: not well-formed XML ({err}); expected a REFI-QDA document. "
            "Check that the file was exported completely."
        ) from None


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
