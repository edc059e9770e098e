"""What a database or archive URL says to almamirror: its scheme, which of its parts hold secrets, which
backend it names. (Masking the secrets for a message or a log line is ``etl.logs.mask_url``.)

Standard library only at run time: below the settings, the source and the log.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

SCHEME = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
# Query parameters (and libpq key=value words) whose name says they hold a secret: password,
# sslpassword, passwd, pwd, secret, token, access_token, …
SECRET_NAME = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)


def secret_query_names(url: URL) -> list[str]:
    """The query parameters of ``url`` whose name says they hold a secret (password=, sslpassword=, …)."""
    return [name for name in url.query if SECRET_NAME.search(name)]


def is_oracle(url: URL) -> bool:
    return url.get_backend_name() == "oracle"
