"""Database and archive URLs as almamirror prints them: every secret masked; and which backend a URL names.

Below the settings and the source (standard library and SQLAlchemy's URL type only), so that both
can mask a URL without importing the engines of ``etl.database``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from sqlalchemy.engine import URL

SCHEME = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
# Greedy: the password runs to the *last* "@", so an unencoded "@" in it hides the rest too.
_USERINFO = re.compile(r"^(?P<user>[^:@/?#]*):.*@", re.DOTALL)
# Query parameters (and libpq key=value words) whose name says they hold a secret: password,
# sslpassword, passwd, pwd, secret, token, access_token, …
_SECRET_NAME = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"(?P<key>\b\w*(?:pass|pwd|secret|token)\w*\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE
)
# An archive (NGAS) URL's user part alone may be a token (http://TOKEN@host): masked too.
_WEB_USER_ONLY = re.compile(r"^[^:@/?#]+@")
MASK = "***"


def mask_url(url: str | URL | None) -> str:
    """The URL with every secret in it replaced by ``***``: the one masking of the project.

    Masks the password of ``user:password@`` (up to the last ``@``, so an unencoded ``@`` in the
    password hides the rest of it too), every query parameter whose (percent-decoded) name says it
    is a secret (``password=``, ``sslpassword=``, ``token=``, …), and the same words in a libpq
    ``key=value`` string. It masks too much rather than too little: a URL with an ``@`` after its
    host loses the host too.
    """
    if url is None:
        return "(embedded)"
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    parts = SCHEME.search(text)
    if parts is None:
        return _KEY_VALUE.sub(lambda found: found["key"] + MASK, text)
    rest = _USERINFO.sub(lambda found: f"{found['user']}:{MASK}@", parts["rest"], count=1)
    if parts["scheme"].lower() in ("http://", "https://"):
        rest = _WEB_USER_ONLY.sub(f"{MASK}@", rest, count=1)
    return text[: parts.start()] + parts["scheme"] + _mask_query(rest)


def secret_query_names(url: URL) -> list[str]:
    """The query parameters of ``url`` whose name says they hold a secret (password=, sslpassword=, …)."""
    return [name for name in url.query if _SECRET_NAME.search(name)]


def _mask_query(rest: str) -> str:
    head, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_sign, fragment = query.partition("#")
    pieces = re.split(r"([&;])", query)
    for index, piece in enumerate(pieces):
        name, equals, _value = piece.partition("=")
        if equals and _SECRET_NAME.search(unquote_plus(name)):
            pieces[index] = f"{name}={MASK}"
    return head + question + "".join(pieces) + hash_sign + fragment


def is_oracle(url: URL) -> bool:
    return url.get_backend_name() == "oracle"
