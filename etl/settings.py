"""One typed settings object, loaded once per process: parsed and type-checked, nothing more.

What a value means to the code that uses it is checked there: the cron expression by scheduling
(``etl.schedule``), the column renames by the source contract (``etl.source.contract``), so that a
command which uses neither never imports them.

Precedence, lowest first: ``config/almamirror.toml`` (the defaults, every key present), a site file given
with ``--config`` or ``ALMAMIRROR_CONFIG``, then environment variables. Every problem found is reported
together, one line each, in a single ``ConfigurationError``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from etl.errors import ConfigurationError, UsageError
from etl.resources import DEFAULTS_FILE
from etl.restore.settings import CasaInstallation, RestoreSettings, read_restore

ENV_CONFIG = "ALMAMIRROR_CONFIG"
# Environment variable -> (section, key) it overrides.
ENV_OVERRIDES: Mapping[str, tuple[str | None, str]] = {
    "ALMAMIRROR_SOURCE_URL": ("source", "url"),
    "ALMAMIRROR_MIRROR_URL": ("mirror", "url"),
    "ALMAMIRROR_HOME": ("embedded", "home"),
    "ALMAMIRROR_LOG_LEVEL": (None, "log_level"),
    "ALMAMIRROR_NGAS_URL": ("archive", "ngas_urls"),  # comma-separated
    "ALMAMIRROR_ASDM_COMMAND": ("archive", "asdm_command"),
}
# Tables whose keys the site chooses (column names, CASA versions): not checked against the defaults.
FREE_FORM_TABLES = ("column_names", "casa")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A PPR's ProcedureTitle becomes part of product file names: one word a file name can hold.
PROCEDURE_TITLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")
# A settings file is a few kB; more is not one (``--config /dev/zero`` would be read without end).
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceSettings:
    url: str | None
    schema: str
    arraysize: int
    batch_rows: int
    column_names: Mapping[str, str] = field(default_factory=dict)
    # The shrink guard (etl/sync/shrink.py) and the quarantine's limit (etl/load/quarantine.py).
    max_shrink: float = 0.5
    max_bad_rows: float = 0.01
    # A night reads only the buckets whose checksums moved; this often, each table is read whole.
    full_read_every: timedelta = timedelta(days=7)
    bucket_rows: int = 512


@dataclass(frozen=True)
class MirrorSettings:
    url: str | None


@dataclass(frozen=True)
class EmbeddedSettings:
    home: Path
    mirror_database: str
    source_database: str


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str
    timezone: str
    misfire_grace_seconds: int
    status_page_dir: Path | None = None
    """Where the status page is written after every scheduled sync; None: not written."""


@dataclass(frozen=True)
class PprSettings:
    processing_site: str
    operator: str
    mode: str
    version: str
    root_directory: str
    procedure_title: str
    pipeline_operator_address: str
    # The site's CASA releases ([restore.casa]), which each request directory's run-restore.sh runs.
    casa: tuple[CasaInstallation, ...] = ()


@dataclass(frozen=True)
class ArchiveSettings:
    """ALMA's archive (NGAS): where to fetch files from and how patiently."""

    ngas_urls: tuple[str, ...]  # tried in order; () = no archive configured
    connect_timeout: float
    read_timeout: float
    workers: int
    retries: int
    asdm_command: str
    # Seconds a sync may spend fetching calibration documents; the rest waits for the next sync.
    document_time_budget: float = 900.0
    # A transfer slower than this (MB/s, over the whole file) is given up and resumed by a later run.
    min_transfer_rate: float = 0.1
    # Hosts of the archive besides those of ngas_urls: a 303 to them carries the URL's credentials.
    node_hosts: tuple[str, ...] = ()
    # Seconds one EB's export (asdm_command) may take before it is killed and that EB failed.
    asdm_timeout: float = 43_200.0


@dataclass(frozen=True)
class Settings:
    log_level: str
    source: SourceSettings
    mirror: MirrorSettings
    embedded: EmbeddedSettings
    schedule: ScheduleSettings
    ppr: PprSettings
    archive: ArchiveSettings
    config_files: tuple[Path, ...] = ()
    restore: RestoreSettings = field(default_factory=RestoreSettings)


def load_settings(
    config_file: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load defaults, then the site file (argument, else ``ALMAMIRROR_CONFIG``), then the environment."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    merged = _read_toml(DEFAULTS_FILE, problems)
    files = [DEFAULTS_FILE]
    site_file = config_file or env.get(ENV_CONFIG) or None
    if site_file:
        site_path = Path(site_file).expanduser()
        site = _tables_where_tables(_read_toml(site_path, problems), merged, str(site_path), problems)
        _check_known_keys(site, merged, str(site_path), problems)
        merged = _deep_merge(merged, site)
        files.append(site_path)
    _apply_environment(merged, env)
    settings = _build(merged, env, problems)
    if problems or settings is None:
        raise ConfigurationError(problems)
    return Settings(**{**settings.__dict__, "config_files": tuple(files)})


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(_config_text(path))
    except FileNotFoundError:
        problems.append(f"config file {path}: not found")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {path}: not valid TOML ({exc})")
    except UnicodeDecodeError as exc:  # TOML is UTF-8; a Latin-1 or UTF-16 file fails here
        problems.append(
            f"config file {path}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
            "save it as UTF-8"
        )
    except OSError as exc:
        problems.append(f"config file {path}: cannot be read ({exc.strerror})")
    return {}


def _tables_where_tables(
    site: Mapping[str, Any], defaults: Mapping[str, Any], where: str, problems: list[str]
) -> dict[str, Any]:
    """The site's settings without a plain value where a table belongs (``ppr = 5``): that is one
    problem, said once, not one per key the table should have held."""
    kept: dict[str, Any] = {}
    for key, value in site.items():
        default = defaults.get(key)
        if isinstance(default, dict) and not isinstance(value, dict):
            problems.append(f"{where}: [{key}] must be a table (a [{key}] section with its keys), "
                            f"not {value!r}")
        elif isinstance(default, dict):
            kept[key] = _tables_where_tables(value, default, f"{where} [{key}]", problems)
        else:
            kept[key] = value
    return kept


def _config_text(path: Path) -> str:
    """The file's text, if it is a regular file of at most MAX_CONFIG_BYTES; else UsageError (exit 2).

    Opened without blocking, so a FIFO is refused instead of waiting for a writer that never comes.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UsageError(f"config file {path} is not a regular file; give a TOML settings file")
    with os.fdopen(descriptor, "rb") as handle:
        content = handle.read(MAX_CONFIG_BYTES + 1)
    if len(content) > MAX_CONFIG_BYTES:
        raise UsageError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES:,} bytes; give a TOML settings file"
        )
    # A file that is not UTF-8 raises UnicodeDecodeError, which _read_toml words as one problem.
    return content.decode("utf-8")


def _check_known_keys(
    site: Mapping[str, Any], defaults: Mapping[str, Any], where: str, problems: list[str]
) -> None:
    """Unknown keys are typos that would otherwise be silently ignored."""
    for key, value in site.items():
        if key not in defaults:
            problems.append(f"{where}: unknown setting '{key}' (known: {', '.join(sorted(defaults))})")
        elif isinstance(value, dict) and isinstance(defaults[key], dict) and key not in FREE_FORM_TABLES:
            _check_known_keys(value, defaults[key], f"{where} [{key}]", problems)


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _apply_environment(merged: dict[str, Any], env: Mapping[str, str]) -> None:
    for variable, (section, key) in ENV_OVERRIDES.items():
        if variable in env:
            target = merged if section is None else merged.setdefault(section, {})
            target[key] = env[variable]


def _build(merged: Mapping[str, Any], env: Mapping[str, str], problems: list[str]) -> Settings | None:
    reader = _Reader(merged, problems)
    log_level = reader.text(None, "log_level").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"log_level: '{log_level}' is not one of {', '.join(LOG_LEVELS)}")
    source = SourceSettings(
        url=reader.optional_text("source", "url"),
        schema=reader.text("source", "schema"),
        arraysize=reader.positive_int("source", "arraysize"),
        batch_rows=reader.positive_int("source", "batch_rows"),
        column_names=reader.text_table("source", "column_names"),
        max_shrink=reader.fraction("source", "max_shrink"),
        max_bad_rows=reader.fraction("source", "max_bad_rows"),
        full_read_every=timedelta(days=reader.positive_number("source", "full_read_every")),
        bucket_rows=reader.positive_int("source", "bucket_rows"),
    )
    mirror = MirrorSettings(url=reader.optional_text("mirror", "url"))
    embedded = EmbeddedSettings(
        home=_embedded_home(reader.optional_text("embedded", "home"), env),
        mirror_database=reader.text("embedded", "mirror_database"),
        source_database=reader.text("embedded", "source_database"),
    )
    schedule = ScheduleSettings(
        cron=reader.text("schedule", "cron"),
        timezone=reader.text("schedule", "timezone"),
        misfire_grace_seconds=reader.positive_int("schedule", "misfire_grace_seconds"),
        status_page_dir=_optional_path(reader.optional_text("schedule", "status_page_dir")),
    )
    ppr = PprSettings(
        **_ppr_texts(reader),
        procedure_title=reader.optional_text("ppr", "procedure_title") or "",
    )
    raw_title = reader.raw("ppr", "procedure_title")
    if isinstance(raw_title, str) and raw_title and not PROCEDURE_TITLE.fullmatch(raw_title):
        problems.append(
            f"[ppr] procedure_title: {raw_title!r} cannot be part of a file name (the pipeline "
            "names the weblog <ous>.<procedure_title>.weblog.tgz); use letters, digits, '_', '.', '+' "
            "and '-', or leave it empty for hifa_restore / hsd_restore"
        )
    archive = ArchiveSettings(
        ngas_urls=reader.text_list("archive", "ngas_urls"),
        connect_timeout=reader.positive_number("archive", "connect_timeout"),
        read_timeout=reader.positive_number("archive", "read_timeout"),
        workers=reader.positive_int("archive", "workers"),
        retries=reader.non_negative_int("archive", "retries"),
        asdm_command=reader.text("archive", "asdm_command"),
        document_time_budget=reader.positive_number("archive", "document_time_budget"),
        min_transfer_rate=reader.positive_number("archive", "min_transfer_rate"),
        node_hosts=reader.text_list("archive", "node_hosts"),
        asdm_timeout=reader.positive_number("archive", "asdm_timeout"),
    )
    _check_archive(archive, problems)
    restore = read_restore(reader.raw(None, "restore"), problems)
    ppr = dataclasses.replace(ppr, casa=restore.casa)
    if problems:
        return None
    return Settings(
        log_level=log_level, source=source, mirror=mirror, embedded=embedded, schedule=schedule,
        ppr=ppr, archive=archive, restore=restore,
    )


def _ppr_texts(reader: _Reader) -> dict[str, Any]:
    """[ppr]'s text settings (the procedure title is optional, the CASA releases come from [restore])."""
    return {key: reader.text("ppr", key) for key in PprSettings.__dataclass_fields__
            if key not in {"procedure_title", "casa"}}


def _optional_path(configured: str | None) -> Path | None:
    return Path(configured).expanduser() if configured else None


def _embedded_home(configured: str | None, env: Mapping[str, str]) -> Path:
    if configured:
        return Path(configured).expanduser()
    data_home = env.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(data_home) / "almamirror"


def _check_archive(archive: ArchiveSettings, problems: list[str]) -> None:
    import shlex
    from urllib.parse import urlsplit

    for url in archive.ngas_urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Imported only here: every command loads settings, and masking needs SQLAlchemy.
            from etl.logs import mask_url

            problems.append(
                f"archive.ngas_urls: '{mask_url(url)}' is not an NGAS server URL; expected "
                "http://host:port (e.g. http://ngas.example.org:7777)"
            )
    try:
        words = shlex.split(archive.asdm_command)
    except ValueError as exc:
        problems.append(f"archive.asdm_command: cannot be split into words ({exc})")
        return
    if not any("{eb_uid}" in word for word in words):
        problems.append(
            f"archive.asdm_command: '{archive.asdm_command}' must contain {{eb_uid}}, where the EB UID goes "
            "(default: asdmExportLight {eb_uid})"
        )


class _Reader:
    """Typed access to the merged settings tree that records, rather than raises, each problem."""

    def __init__(self, tree: Mapping[str, Any], problems: list[str]) -> None:
        self.tree = tree
        self.problems = problems

    def _value(self, section: str | None, key: str) -> Any:
        node = self.tree if section is None else self.tree.get(section, {})
        return node.get(key) if isinstance(node, Mapping) else None

    @staticmethod
    def _name(section: str | None, key: str) -> str:
        return key if section is None else f"{section}.{key}"

    def text(self, section: str | None, key: str) -> str:
        value = self._value(section, key)
        if not isinstance(value, str) or not value.strip():
            self.problems.append(f"{self._name(section, key)}: expected a non-empty string, got {value!r}")
            return ""
        return value.strip()

    def raw(self, section: str | None, key: str) -> Any:
        """The value as configured, unchecked."""
        return self._value(section, key)

    def optional_text(self, section: str | None, key: str) -> str | None:
        value = self._value(section, key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            self.problems.append(f"{self._name(section, key)}: expected a string, got {value!r}")
            return None
        return value.strip()

    def positive_int(self, section: str | None, key: str) -> int:
        value = self._value(section, key)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problems.append(f"{self._name(section, key)}: expected a positive integer, got {value!r}")
            return 1
        return value

    def non_negative_int(self, section: str | None, key: str) -> int:
        value = self._value(section, key)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problems.append(f"{self._name(section, key)}: expected an integer ≥ 0, got {value!r}")
            return 0
        return value

    def positive_number(self, section: str | None, key: str) -> float:
        value = self._value(section, key)
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            self.problems.append(f"{self._name(section, key)}: expected a positive number, got {value!r}")
            return 1.0
        return float(value)

    def text_list(self, section: str | None, key: str) -> tuple[str, ...]:
        """A list of strings, or one comma-separated string (as an environment variable gives it)."""
        value = self._value(section, key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problems.append(
                f"{self._name(section, key)}: expected a list of strings, got {type(value).__name__}"
            )
            return ()
        return tuple(item.strip() for item in value if item.strip())

    def fraction(self, section: str | None, key: str) -> float:
        """A share between 0 and 1 (TOML integer or float; a string from the environment too)."""
        value = self._value(section, key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            self.problems.append(
                f"{self._name(section, key)}: expected a fraction from 0 to 1 (0.5 = half), got {value!r}"
            )
            return 0.0
        return float(value)

    def text_table(self, section: str, key: str) -> dict[str, str]:
        value = self._value(section, key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str) and v.strip() for v in value.values()
        ):
            self.problems.append(
                f"{self._name(section, key)}: expected a table of non-empty strings, got {value!r}"
            )
            return {}
        return {str(k).lower(): str(v).strip() for k, v in value.items()}
