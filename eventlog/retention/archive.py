"""JSON Lines archives of events: what retention moves out of the database, and the format
of the golden logs.

The first line is an `ArchiveHeader`; every further line is one `ArchivedEvent`, in seq
order, with its stored body embedded verbatim (`msgspec.Raw`) so the bytes the hash covers
survive the round trip exactly. The header lists the runs of consecutive seqs the file holds
and, for each, the hash of the event just before it and the hash of its last event, so an
archive can be checked on its own (`verify_archive`) and against the checkpoint rows that
replaced it in the database (`eventlog.sqlite.verify`).

Files are written to a temporary name, fsynced, renamed into place, and the directory is
fsynced, so an archive that exists is complete; retention deletes rows only after that.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from eventlog.chain import GENESIS_HASH, chain_hash
from eventlog.errors import CorruptEventError, EventLogError
from eventlog.files import PRIVATE_FILE

ARCHIVE_FORMAT = "druid-orch-archive"
ARCHIVE_VERSION = 1


class ArchiveRun(msgspec.Struct, frozen=True):
    """Seqs `first_seq..after_seq`, all present in the file, chained from `prev_hash`."""

    first_seq: int
    after_seq: int
    prev_hash: str
    hash: str


class ArchiveHeader(msgspec.Struct, frozen=True, kw_only=True):
    format: str = ARCHIVE_FORMAT
    version: int = ARCHIVE_VERSION
    source: str
    created_at: float
    events: int
    runs: list[ArchiveRun]


class ArchivedEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    stream_id: str
    version: int
    type: str
    recorded_at: float
    hash: str
    body: msgspec.Raw


class ArchiveReport(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    sha256: str
    events: int
    runs: list[ArchiveRun]


EventRow = tuple[
    int, str, int, str, float, bytes, bytes
]  # seq, stream, version, type, at, body, hash

_ENCODER = msgspec.json.Encoder()
_HEADER = msgspec.json.Decoder(ArchiveHeader)
_EVENT = msgspec.json.Decoder(ArchivedEvent)


def runs_of(rows: list[EventRow], prev_hash_of: dict[int, bytes]) -> list[ArchiveRun]:
    """Split seq-ordered rows into runs of consecutive seqs.

    `prev_hash_of[first_seq]` must hold the hash of the event before each run's first seq.
    """
    runs: list[ArchiveRun] = []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][0] != rows[i - 1][0] + 1:
            first, last = rows[start], rows[i - 1]
            runs.append(
                ArchiveRun(first[0], last[0], prev_hash_of[first[0]].hex(), bytes(last[6]).hex())
            )
            start = i
    return runs


def write_archive(path: Path, header: ArchiveHeader, rows: Iterable[EventRow]) -> str:
    """Write the archive durably (temp file, fsync, rename, fsync dir); return its sha256."""
    digest = hashlib.sha256()
    tmp = path.with_name(path.name + ".tmp")
    # 0600 from the start: an archive holds the specs' passwords as the log does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        for line in _lines(header, rows):
            digest.update(line)
            f.write(line)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return digest.hexdigest()


def _lines(header: ArchiveHeader, rows: Iterable[EventRow]) -> Iterator[bytes]:
    yield _ENCODER.encode(header) + b"\n"
    for seq, stream_id, version, type_, recorded_at, body, hash_ in rows:
        if b"\n" in body or b"\r" in body:
            raise ValueError(f"the stored body of seq {seq} spans lines; it cannot be archived")
        event = ArchivedEvent(
            seq=seq,
            stream_id=stream_id,
            version=version,
            type=type_,
            recorded_at=recorded_at,
            hash=bytes(hash_).hex(),
            body=msgspec.Raw(body),
        )
        yield _ENCODER.encode(event) + b"\n"


def read_archive(path: str | Path) -> tuple[ArchiveHeader, Iterator[ArchivedEvent]]:
    """The header and a lazy iterator over the events (one line in memory at a time).

    Raises:
        CorruptEventError: a line is not what the format says (with its line number).
    """
    f = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    first = f.readline()
    try:
        header = _HEADER.decode(first)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        f.close()
        raise CorruptEventError(f"{path} line 1 is not an archive header ({exc})") from exc
    if header.format != ARCHIVE_FORMAT or header.version > ARCHIVE_VERSION:
        f.close()
        raise CorruptEventError(
            f"{path} is {header.format!r} version {header.version}, not an archive this "
            f"druid-orchestrator reads ({ARCHIVE_FORMAT!r} up to version {ARCHIVE_VERSION})"
        )

    def events() -> Iterator[ArchivedEvent]:
        with f:
            for number, line in enumerate(f, start=2):
                try:
                    yield _EVENT.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise CorruptEventError(
                        f"{path} line {number} is not an event ({exc})"
                    ) from exc

    return header, events()


def verify_archive(path: str | Path) -> ArchiveReport:
    """Recompute every hash in the archive and check it against the header's runs.

    Raises:
        CorruptEventError: the first event whose hash or place does not check out, or the
            first missing one (with its seq).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    header, events = read_archive(path)
    runs = iter(sorted(header.runs, key=lambda r: r.first_seq))
    run: ArchiveRun | None = None
    prev, last_seq, count = GENESIS_HASH, 0, 0
    for event in events:
        count += 1
        if run is None or last_seq == run.after_seq:
            run = next(runs, None)  # the previous run is complete: this event opens the next
            if run is None or event.seq != run.first_seq:
                raise CorruptEventError(
                    f"{path}: seq {event.seq} is outside the runs its header lists", seq=event.seq
                )
            prev = bytes.fromhex(run.prev_hash)
        elif event.seq != last_seq + 1:
            raise CorruptEventError(
                f"{path}: events {last_seq + 1}..{event.seq - 1} of run "
                f"{run.first_seq}..{run.after_seq} are missing",
                seq=last_seq + 1,
            )
        expected = chain_hash(
            prev,
            event.seq,
            event.stream_id,
            event.version,
            event.type,
            event.recorded_at,
            bytes(event.body),
        )
        if expected.hex() != event.hash:
            raise CorruptEventError(
                f"{path}: the archived event does not match its hash (altered or moved)",
                seq=event.seq,
            )
        if event.seq == run.after_seq and event.hash != run.hash:
            raise CorruptEventError(
                f"{path}: run {run.first_seq}..{run.after_seq} does not end on the hash its "
                "header records",
                seq=event.seq,
            )
        prev, last_seq = expected, event.seq
    unfinished = run if run is not None and last_seq != run.after_seq else next(runs, None)
    if unfinished is not None:
        missing = last_seq + 1 if unfinished is run else unfinished.first_seq
        raise CorruptEventError(
            f"{path} is truncated: run {unfinished.first_seq}..{unfinished.after_seq} "
            f"is missing its events from seq {missing}",
            seq=missing,
        )
    if count != header.events:
        raise CorruptEventError(f"{path} holds {count} events, but its header says {header.events}")
    return ArchiveReport(path=str(path), sha256=digest.hexdigest(), events=count, runs=header.runs)


def archive_problem(
    checked: dict[str, ArchiveReport],
    path: str,
    first: int,
    after: int,
    hash_: bytes,
    prev: bytes | None,
    sha: str | None,
) -> str | None:
    """What is wrong with the archive a checkpoint names for seqs `first..after`, or None.

    `checked` caches each file's report, so an archive holding several runs is read once.
    Shared by the SQLite and PostgreSQL verifiers, which report the answer at `first`.
    """
    report = checked.get(path)
    if report is None:
        try:
            report = verify_archive(path)
        except (OSError, EventLogError) as exc:
            return f"the archive {path} of seqs {first}..{after} fails: {exc}"
        checked[path] = report
    if sha is not None and report.sha256 != sha:
        return (
            f"the archive {path} of seqs {first}..{after} was changed after it was "
            f"written (sha256 {report.sha256}, recorded {sha})"
        )
    for run in report.runs:
        if (run.first_seq, run.after_seq) == (first, after):
            if run.hash != hash_.hex() or (prev is not None and run.prev_hash != prev.hex()):
                return f"the archive {path} does not hold the chain of seqs {first}..{after}"
            return None
    return f"the archive {path} does not hold seqs {first}..{after}"
