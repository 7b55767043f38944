"""Local staff accounts (argon2id hashes in a TOML file), for a small deployment without an IdP.

The file lists one table per account::

    [accounts.dr-weber]
    name = "Dr. Weber"
    roles = ["physician"]
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

Make a hash with ``telemedroom hub hash-password``. A wrong user name costs the same
time as a wrong password (a dummy hash is checked), so names cannot be probed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from telemedroom.errors import HubConfigError, MissingExtraError

try:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
except ImportError as _exc:
    raise MissingExtraError("hub", "telemedroom.hub") from _exc

__all__ = ["Account", "LocalAccounts", "hash_password"]

_HASHER: Final = PasswordHasher()
_DUMMY: Final = _HASHER.hash("telemedroom: no such account")
STAFF_ROLES: Final = frozenset({"physician", "operator"})


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (RFC 9106 parameters of argon2-cffi) for the accounts file.

    Examples:
        >>> hash_password("correct horse").startswith("$argon2id$")
        True
    """
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Account:
    """A local staff account."""

    username: str
    name: str
    roles: frozenset[str]
    password_hash: str


class LocalAccounts:
    """The accounts of one file, checked with argon2.

    Examples:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "accounts.toml"
        >>> _ = file.write_text(f'[accounts.op]\\nname = "Op"\\nroles = ["operator"]\\n'
        ...                     f'password_hash = "{hash_password("pw-123456")}"\\n')
        >>> accounts = LocalAccounts.from_file(file)
        >>> accounts.check("op", "pw-123456").roles, accounts.check("op", "wrong")
        (frozenset({'operator'}), None)
    """

    def __init__(self, accounts: dict[str, Account]) -> None:
        self._accounts = accounts

    @classmethod
    def from_file(cls, path: Path) -> LocalAccounts:
        """Read an accounts file.

        Raises:
            HubConfigError: The file cannot be read, or an account lacks a hash or has
                no staff role.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise HubConfigError("accounts_file", str(path), f"cannot read: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise HubConfigError("accounts_file", str(path), f"not TOML: {exc}") from exc
        accounts: dict[str, Account] = {}
        table = data.get("accounts", {})
        if not isinstance(table, dict):
            raise HubConfigError("accounts", str(path), "must be a table of accounts")
        for username, entry in table.items():
            key = f"accounts.{username}"
            if not isinstance(entry, dict):
                raise HubConfigError(key, str(path), "must be a table")
            hashed = entry.get("password_hash")
            if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
                raise HubConfigError(f"{key}.password_hash", str(path), "missing or not an argon2 hash")
            roles = entry.get("roles", [])
            if not isinstance(roles, list) or not set(roles) & STAFF_ROLES:
                raise HubConfigError(f"{key}.roles", str(path), "must list physician and/or operator")
            accounts[username] = Account(
                username, str(entry.get("name", username)), frozenset(map(str, roles)) & STAFF_ROLES, hashed
            )
        return cls(accounts)

    def check(self, username: str, password: str) -> Account | None:
        """The account if ``password`` is its password, else ``None`` (same cost either way)."""
        account = self._accounts.get(username)
        try:
            _HASHER.verify(account.password_hash if account else _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return account
