"""Database URLs: which are PostgreSQL's, and how to show one without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """Whether `target` (a path or a URL) names a PostgreSQL database."""
    return isinstance(target, str) and target.startswith(SCHEMES)


def redacted(url: str) -> str:
    """`url` with any password replaced by `***`, fit for a log line or an error."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparseable database URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def database_of(url: str) -> str:
    """The database name a URL names (the path without its slash), or "" for the default."""
    return urlsplit(url).path.lstrip("/")


def url_problem(url: str) -> str | None:
    """What is wrong with `url` as the log's `eventlog.url`, or None."""
    if not url.startswith(SCHEMES):
        return (
            f"{url.split(':', 1)[0]!r} is not a database URL this orchestrator knows; "
            "use postgresql://user@host:port/database"
        )
    if urlsplit(url).password is not None:
        return (
            "it carries a password; put it in eventlog.password_file "
            "(or DRUID_ORCH_EVENTLOG_PASSWORD) instead"
        )
    return None
