"""Reading the text files people give the orchestrator (specs, templates, configuration,
secret files): UTF-8, or a one-line error that says where it stops being UTF-8."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NotUTF8Error", "read_utf8"]


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
