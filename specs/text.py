"""Reading the text files people give the orchestrator (specs, templates, configuration,
secret files): UTF-8, or a one-line error that says where it stops being UTF-8."""

from __future__ import annotations

from pathlib import Path

from specs.errors import SpecError

__all__ = ["NotUTF8Error", "read_spec_text", "read_utf8"]


class NotUTF8Error(ValueError):
    """A file that is not UTF-8 text; the message names the first byte that is not."""

    def __init__(self, path: str | Path, offset: int) -> None:
        super().__init__(f"not UTF-8 at byte {offset}")
        self.path = str(path)
        self.offset = offset


def read_utf8(path: str | Path) -> str:
    """The file's text.

    Raises:
        OSError: it cannot be read.
        NotUTF8Error: it is not UTF-8 (the bytes themselves are never in the message: the
            file may be a secret).
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUTF8Error(path, exc.start) from None


def read_spec_text(path: str | Path, *, what: str = "") -> str:
    """The text of a spec or template file a person gave.

    Raises:
        SpecError: naming the file; rule `utf-8` (with the byte) or `io` (with the reason,
            after "cannot read" and `what`, e.g. "pipeline template").
    """
    try:
        return read_utf8(path)
    except NotUTF8Error as exc:
        raise SpecError(str(exc), source=str(path), rule="utf-8") from None
    except OSError as exc:
        reading = f"cannot read {what}" if what else "cannot read"
        raise SpecError(f"{reading}: {exc.strerror or exc}", source=str(path), rule="io") from exc
