"""Accounts and API keys: a key is shown once and only its SHA-256 is stored.

Keys look like ``mgk_<43 url-safe characters>``; the first 12 characters are kept as a prefix
so listings can tell keys apart. With ``auth`` off (loopback only), every request acts as the
built-in ``local`` account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from ....errors import AuthenticationFailed, InvalidInput
from .db import Account, ApiKey, Database, utcnow

__all__ = ["Caller", "KeyStore", "hash_key"]

LOCAL_ACCOUNT = "local"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account (jobs are scoped to it) and the key (rate limits)."""

    account_id: str
    key_id: str


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def account(self, name: str) -> Account:
        """The account called ``name``, created (with a webhook signing secret) if new."""
        with self.db.session.begin() as s:
            account = s.scalar(select(Account).where(Account.name == name))
            if account is None:
                account = Account(
                    id=_new_id("acct"), name=name, webhook_secret=f"whsec_{secrets.token_hex(24)}"
                )
                s.add(account)
            return account

    def create_key(self, name: str, account: str | None = None) -> tuple[str, ApiKey, Account]:
        """A new key for ``account`` (default: an account named like the key)."""
        if not name.strip():
            raise InvalidInput("a key needs a name", code="INVALID_NAME")
        owner = self.account(account or name)
        key = f"mgk_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            id=_new_id("key"),
            account_id=owner.id,
            name=name,
            prefix=key[:12],
            key_hash=hash_key(key),
        )
        with self.db.session.begin() as s:
            s.add(record)
        return key, record, owner

    def list_keys(self) -> list[tuple[ApiKey, Account]]:
        with self.db.session() as s:
            rows = s.execute(select(ApiKey, Account).join(Account)).all()
            return [(k, a) for k, a in rows]

    def revoke(self, key_id_or_prefix: str) -> bool:
        with self.db.session.begin() as s:
            for key in s.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))):
                if key_id_or_prefix in (key.id, key.prefix):
                    key.revoked_at = utcnow()
                    return True
        return False

    def authenticate(self, key: str | None) -> Caller:
        if not key:
            raise AuthenticationFailed(
                "missing API key: send `Authorization: Bearer <key>` "
                "(create one with `music-gen keys create --name NAME`)"
            )
        with self.db.session() as s:
            record = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        if record is None or record.revoked_at is not None:
            raise AuthenticationFailed("invalid or revoked API key")
        return Caller(record.account_id, record.id)

    def local_caller(self) -> Caller:
        return Caller(self.account(LOCAL_ACCOUNT).id, "local")

    def webhook_secret(self, account_id: str) -> str:
        with self.db.session() as s:
            account = s.get(Account, account_id)
            return account.webhook_secret if account is not None else ""
