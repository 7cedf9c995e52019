"""The one root of msa's errors: each says what went wrong and what to do next."""

from __future__ import annotations


class MsaError(Exception):
    """An error the user can act on; the CLI prints it as one line."""

    exit_code = 1


class UsageError(MsaError):
    """Bad arguments or configuration."""

    exit_code = 2


class NotAvailable(MsaError):
    """Something the command needs is absent (a board, PostgreSQL, a browser)."""

    exit_code = 3
