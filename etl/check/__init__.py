"""``almamirror check``: is a site ready for its first night? Read-only checks of the source, the mirror
and the archive, one ``Item`` each, never a write to any of them.

``source.py`` reads the ALMA source (tables, columns, grants, checksum functions, row counts, speed),
``mirror.py`` the PostgreSQL mirror (server, schema revision, reader role, disk), ``archive.py`` NGAS
(STATUS of one product file on every configured URL) and the ASDM export tool. ``readiness.py`` runs
them all; the command (etl/cli/check_command.py) prints the items.
"""
