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


# Sign-in throttling: each recent failure for an account or an address adds a delay, and this
# many within the window lock both out until the window passes or an admin unlocks the account.
MAX_FAILURES = 5
FAILURE_WINDOW_MINUTES = 15
DELAY_PER_FAILURE = 0.5     # seconds, up to MAX_DELAY
MAX_DELAY = 3.0


class SignInLocked(TuneloopError):
    """Too many failed sign-ins for this account or from this address."""


def recent_failures(store: Store, name: str, address: str | None = None) -> int:
    return store.scalar(
        "SELECT count(*) FROM sign_in_attempts WHERE NOT ok AND attempted_at > current_timestamp - to_minutes(?)"
        " AND (name = ? OR (address IS NOT NULL AND address = ?))", [FAILURE_WINDOW_MINUTES, name, address])


def authenticate(store: Store, name: str, password: str, address: str | None = None) -> dict | None:
    """The user if the name and password match an active account, else None (after a delay that
    grows with recent failures). Raises SignInLocked after MAX_FAILURES failures within the window
    for the account or the address, without looking at the password."""
    import time

    name = (name or "").strip()
    failures = recent_failures(store, name, address)
    if failures >= MAX_FAILURES:
        raise SignInLocked(f"too many failed sign-ins; wait {FAILURE_WINDOW_MINUTES} minutes or ask an admin"
                           " to unlock the account")
    row = store.one("SELECT id, name, role, password_hash FROM users WHERE name = ? AND active", [name])
    ok = False
    if row is None or not row["password_hash"]:
        _hasher.hash("timing")  # take as long as a real check
    else:
        try:
            ok = _hasher.verify(row["password_hash"], password)
        except (VerifyMismatchError, InvalidHashError):
            ok = False
    store.execute("INSERT INTO sign_in_attempts (name, address, ok) VALUES (?, ?, ?)", [name, address, ok])
    if not ok:
        time.sleep(min(DELAY_PER_FAILURE * (failures + 1), MAX_DELAY))
        return None
    return {k: row[k] for k in ("id", "name", "role")}


def unlock(store: Store, name: str) -> int:
    """Lift a lockout: forget the account's failed sign-ins (and those of the addresses that
    tried it). Returns how many were forgotten."""
    with store.transaction() as con:
        return con.execute("DELETE FROM sign_in_attempts WHERE NOT ok AND (name = ? OR address IN"
                           " (SELECT address FROM sign_in_attempts WHERE name = ? AND address IS NOT NULL))",
                           [name, name]).fetchone()[0]


def set_active(store: Store, name: str, active: bool) -> None:
    """Deactivate an account (its open sessions stop at their next action) or activate it again."""
    if not store.scalar("SELECT count(*) FROM users WHERE name = ?", [name]):
        raise TuneloopError(f"no user called {name!r}")
    store.execute("UPDATE users SET active = ? WHERE name = ?", [active, name])


def still_allowed(store: Store, user: dict) -> dict | None:
    """The signed-in user as the store has them now (a changed role applies at once), or None
    when the account was deactivated or removed."""
    return store.one("SELECT id, name, role FROM users WHERE id = ? AND active", [user["id"]])


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
