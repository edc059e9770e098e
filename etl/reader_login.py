"""The login a read-only session uses: the reporting role ``almamirror_reader`` itself.

A writer that promised not to write (``SET ROLE``, ``default_transaction_read_only``) takes the promise
back with ``SET ROLE NONE; SET default_transaction_read_only = off``. A session that logs in as the
reporting role has nothing to take back: the role holds SELECT on the mirror and nothing else.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from etl.errors import StopAndFix
from etl.logs import fields

log = logging.getLogger(__name__)

# The role revision 0002 creates and grants SELECT on the mirror's tables and views.
READER_ROLE = "almamirror_reader"


def enable_reader_login(engine: Engine) -> None:
    """Let ``almamirror_reader`` log in (it is created NOLOGIN); StopAndFix when that is not allowed.

    The role gets no password here: on a server that asks for one, an administrator gives it one
    (``ALTER ROLE almamirror_reader PASSWORD …``) and the reader passes it in the usual libpq ways.
    """
    with engine.begin() as connection:
        can_login = connection.execute(
            text("SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = :role"), {"role": READER_ROLE}
        ).scalar()
        if can_login is None:
            raise StopAndFix(
                f"the mirror's server has no role {READER_ROLE}; run 'almamirror db upgrade' to create it"
            )
        if can_login:
            return
        try:
            connection.execute(text("ALTER ROLE almamirror_reader LOGIN"))
        except DBAPIError as exc:
            raise StopAndFix(
                f"the role {READER_ROLE} cannot log in, and this login may not allow it "
                f"({str(exc.orig).strip().splitlines()[0]}); ask the server's administrator to run "
                f"ALTER ROLE {READER_ROLE} LOGIN PASSWORD '…'"
            ) from None
    log.info("mirror.reader_login_enabled %s", fields(role=READER_ROLE))
