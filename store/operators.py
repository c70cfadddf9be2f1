"""Operators who may sign in to the review page off localhost: names and argon2id password hashes.

A disabled operator never verifies, and an unknown name costs the same as a known one (a dummy hash is
checked), so timing does not tell which names exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from store.db import NotFound, Store, StoreError
from store.models import Operator, now

_HASHER = PasswordHasher()  # argon2id with argon2-cffi's recommended parameters; stateless
_DUMMY = _HASHER.hash("not a password anyone has")


def _name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 200 or any(ch.isspace() or not ch.isprintable() for ch in clean):
        raise StoreError(f"operator name {name!r}: 1 to 200 printable characters without spaces")
    return clean


def add_operator(store: Store, name: str, password: str) -> None:
    """A new operator; an existing disabled one is enabled again with the new password."""
    clean = _name(name)
    if not password:
        raise StoreError(f"password for operator {clean!r}: empty")
    digest = _HASHER.hash(password)
    try:
        with store.session(write=True) as session:
            row = session.scalars(select(Operator).where(Operator.name == clean)).first()
            if row is not None and row.enabled:
                raise StoreError(f"operator {clean!r} exists already (disable it first to reset its password)")
            if row is None:
                session.add(Operator(name=clean, password_hash=digest, enabled=True, created_at=now()))
            else:
                row.password_hash, row.enabled = digest, True
    except IntegrityError as exc:
        raise StoreError(f"operator {clean!r} exists already") from exc


def disable_operator(store: Store, name: str) -> None:
    with store.session(write=True) as session:
        row = session.scalars(select(Operator).where(Operator.name == name.strip())).first()
        if row is None:
            raise NotFound(f"no operator {name!r} in the store")
        row.enabled = False


def verify_operator(store: Store, name: str, password: str) -> bool:
    with store.session() as session:
        row = session.scalars(select(Operator).where(Operator.name == name.strip())).first()
        digest = row.password_hash if row is not None else _DUMMY
        enabled = row is not None and row.enabled
    try:
        ok = _HASHER.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and enabled


def operator_enabled(store: Store, name: str) -> bool:
    with store.session() as session:
        return bool(session.scalars(select(Operator.enabled).where(Operator.name == name.strip())).first())


__all__ = ["add_operator", "disable_operator", "operator_enabled", "verify_operator"]
