"""Reading archived XML safely and by local element name, as the pipeline's own readers do."""

from __future__ import annotations

import threading

from lxml import etree

from etl.calibration.errors import MalformedDocument

_parsers = threading.local()


def safe_parser(remove_comments: bool = False) -> etree.XMLParser:
    """The one parser for XML nobody vouches for: entities, DTDs and the network off, no huge trees.

    Making a parser costs as much as parsing a PPR, and a parser must not be shared between threads:
    one per thread (and per ``remove_comments``), kept.
    """
    key = "without_comments" if remove_comments else "plain"
    parser: etree.XMLParser | None = getattr(_parsers, key, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
            remove_comments=remove_comments,
        )
        setattr(_parsers, key, parser)
    return parser


def parse_xml(content: bytes, what: str) -> etree._Element:
    """The root element; entities, DTDs and the network off (an archived file names no trusted DTD)."""
    try:
        root = etree.fromstring(content, safe_parser())
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
