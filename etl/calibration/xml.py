"""Reading archived XML safely and by local element name, as the pipeline's own readers do."""

from __future__ import annotations

from lxml import etree

from etl.calibration.errors import MalformedDocument


def parse_xml(content: bytes, what: str) -> etree._Element:
    """The root element; entities, DTDs and the network off (an archived file names no trusted DTD)."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedDocument(f"{what} is not well-formed XML (line {exc.lineno}: {exc.msg})") from None
    if root is None:
        raise MalformedDocument(f"{what} holds no XML element")
    return root


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def children(parent: etree._Element, *names: str) -> list[etree._Element]:
    """Child elements whose local name is one of ``names`` (comments and PIs are never elements)."""
    return [child for child in parent if isinstance(child.tag, str) and local_name(child) in names]


def child(parent: etree._Element, *names: str) -> etree._Element | None:
    found = children(parent, *names)
    return found[0] if found else None
