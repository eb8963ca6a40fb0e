"""Who is rating: a local users table with argon2 password hashes (or accounts matched to an
OIDC login by email). Roles: annotator (rates), reviewer (also resolves and approves), admin
(also manages users and exports)."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from curate.errors import TuneloopError
from curate.store import Store

ROLES = ("annotator", "reviewer", "admin")
MIN_PASSWORD = 8
_hasher = PasswordHasher()


def add_user(store: Store, name: str, role: str = "annotator", password: str | None = None,
             email: str | None = None) -> int:
    name = (name or "").strip()
    if not name:
        raise TuneloopError("a user needs a name")
    if role not in ROLES:
        raise TuneloopError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise TuneloopError(f"a password needs at least {MIN_PASSWORD} characters")
    if store.scalar("SELECT count(*) FROM users WHERE name = ?", [name]):
        raise TuneloopError(f"there is already a user called {name!r}")
    return store.scalar("INSERT INTO users (name, role, password_hash, email) VALUES (?, ?, ?, ?) RETURNING id",
                        [name, role, _hasher.hash(password) if password else None, email])


def authenticate(store: Store, name: str, password: str) -> dict | None:
    """The user if the name and password match an active account, else None."""
    row = store.one("SELECT id, name, role, password_hash FROM users WHERE name = ? AND active", [name.strip()])
    if row is None or not row["password_hash"]:
        _hasher.hash("timing")  # take as long as a real check
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    return {k: row[k] for k in ("id", "name", "role")}


def user_for_email(store: Store, email: str, name: str | None = None) -> dict:
    """The account of an OIDC login: found by email, or created as an annotator."""
    row = store.one("SELECT id, name, role FROM users WHERE email = ? AND active", [email])
    if row is None:
        base = name or email.split("@")[0]
        candidate, n = base, 1
        while store.scalar("SELECT count(*) FROM users WHERE name = ?", [candidate]):
            n += 1
            candidate = f"{base} {n}"
        add_user(store, candidate, "annotator", email=email)
        row = store.one("SELECT id, name, role FROM users WHERE email = ?", [email])
    return row


def get_user(store: Store, name: str) -> dict:
    row = store.one("SELECT id, name, role FROM users WHERE name = ? AND active", [name])
    if row is None:
        raise TuneloopError(f"no active user called {name!r}; add one with `tuneloop users add`")
    return row


def sign_in_required(store: Store) -> bool:
    """Once any account has a password, everyone signs in; before that one person works alone."""
    return bool(store.scalar("SELECT count(*) FROM users WHERE password_hash IS NOT NULL AND active"))


def solo_user(store: Store) -> dict:
    """The person working alone before sign-in is set up: an admin called 'me'."""
    row = store.one("SELECT id, name, role FROM users WHERE name = 'me'")
    if row is None:
        add_user(store, "me", "admin")
        row = store.one("SELECT id, name, role FROM users WHERE name = 'me'")
    return row


def can(user: dict, action: str) -> bool:
    """annotators rate; reviewers also review and approve; admins also manage users and export."""
    needed = {"rate": 0, "review": 1, "approve": 1, "export": 2, "manage_users": 2}[action]
    return ROLES.index(user["role"]) >= needed


def users_frame(store: Store):
    return store.frame("SELECT id, name, role, email, active, password_hash IS NOT NULL AS has_password, created_at"
                       " FROM users ORDER BY id")
