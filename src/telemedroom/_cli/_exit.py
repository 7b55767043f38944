"""Exit codes of the ``telemedroom`` command, and how an error becomes one.

One table maps a branch of the error tree to a code; the most specific class on the
error's MRO wins, so a new error in ``telemedroom.errors`` gets its branch's code
without an edit here.

Examples:
    >>> from telemedroom.errors import AuditIntegrityError, MissingExtraError
    >>> exit_code_for(AuditIntegrityError(3, "hash does not match")), int(ExitCode.CHECK_FAILED)
    (<ExitCode.CHECK_FAILED: 1>, 1)
    >>> exit_code_for(MissingExtraError("ble", "devices scan"))
    <ExitCode.MISSING_EXTRA: 4>
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from telemedroom import errors

__all__ = ["EXIT_CODES", "ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """What ``telemedroom`` returns to the shell (documented in ``docs/cli.md``).

    Examples:
        >>> [f"{code.value} {code.name.lower()}" for code in ExitCode][:3]
        ['0 ok', '1 check_failed', '2 usage']
    """

    OK = 0
    CHECK_FAILED = 1  # the command ran and found a problem: a broken audit chain, rejected rows
    USAGE = 2  # click's code: an unknown command or option, a bad value
    CONFIG = 3  # the configuration file is missing, unreadable, or a key is missing or invalid
    MISSING_EXTRA = 4  # an optional part is not installed: pip install 'telemedroom[...]'
    FAILED = 5  # a device, the FHIR server, the outbox, the schedule or the session failed
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT (128 + 2)


# Branches of the error tree -> exit code; looked up along the error's MRO.
EXIT_CODES: Final[dict[type[BaseException], ExitCode]] = {
    errors.TelemedroomError: ExitCode.FAILED,
    errors.MissingExtraError: ExitCode.MISSING_EXTRA,
    errors.AuditIntegrityError: ExitCode.CHECK_FAILED,
    errors.RecordRejectedError: ExitCode.CHECK_FAILED,  # the record is kept: a check, not a crash
    errors.RoomConfigError: ExitCode.CONFIG,
    errors.BookingConfigError: ExitCode.CONFIG,
    errors.ApartmentConfigError: ExitCode.CONFIG,
    errors.CarePlanError: ExitCode.CONFIG,
    errors.HubConfigError: ExitCode.CONFIG,
}


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for an error raised by a command."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return ExitCode.FAILED
