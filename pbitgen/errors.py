"""The one exception type users see.

Every problem with user input (a file, a flag, a config field) becomes a :class:`PbitgenError` whose text
names the file and field and says what was expected; the CLI prints it as ``pbitgen: error: <text>`` and
exits 1, with no traceback.
"""

from __future__ import annotations


class PbitgenError(Exception):
    """A user-facing error: one line that names the file, the field and what was expected."""


def in_file(path: object, error: Exception) -> PbitgenError:
    """Prefix an error with the file it came from, so the message names both file and field."""
    return PbitgenError(f"{path}: {error}")
