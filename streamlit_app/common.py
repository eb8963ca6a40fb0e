"""What every page shares: the store this server works on, and who is signed in."""
from __future__ import annotations

import streamlit as st

from curate.demo import seed_if_empty
from curate.rating.users import SignInLocked, authenticate, can, sign_in_required, solo_user, still_allowed, user_for_email
from curate.store import Store, default_db_path


@st.cache_resource(show_spinner="Opening the store…")
def _open(path: str) -> Store:
    store = Store(path)
    seed_if_empty(store)
    return store


def get_store() -> Store:
    """The store named by $TUNELOOP_DB (the `tuneloop app --db` option), seeded when empty."""
    return _open(default_db_path())


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def current_user() -> dict | None:
    """The signed-in user, or None (the caller shows the sign-in). With st.login configured in
    secrets, OIDC decides; else the local users table; with no passwords set yet, one person
    works alone as the admin 'me'."""
    store = get_store()
    if _oidc_configured():
        if not st.user.is_logged_in:
            return None
        return user_for_email(store, st.user.email, st.user.get("name"))
    if not sign_in_required(store):
        return solo_user(store)
    user = st.session_state.get("user")
    if user is not None:
        user = still_allowed(store, user)  # deactivated since signing in: the session ends here
        if user is None:
            st.session_state.pop("user", None)
    return user


def sign_in_form() -> None:
    """The only thing an anonymous visitor sees."""
    st.title("tuneloop")
    if _oidc_configured():
        st.button("Sign in", on_click=st.login, type="primary")
        return
    with st.form("sign-in"):
        name = st.text_input("Name")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                address = st.context.ip_address  # None when the server cannot tell
                user = authenticate(get_store(), name, password, address=address if isinstance(address, str) else None)
            except SignInLocked as exc:
                st.error(str(exc))
                return
            if user is None:
                st.error("Wrong name or password.")
            else:
                st.session_state["user"] = user
                st.rerun()


def sign_out() -> None:
    if _oidc_configured():
        st.logout()
    st.session_state.pop("user", None)


def require(action: str) -> dict:
    """The current user, if their role allows the action; otherwise the page stops here."""
    user = current_user()
    if user is None or not can(user, action):
        st.error(f"Your role ({user['role'] if user else 'anonymous'}) can't {action.replace('_', ' ')} here.")
        st.stop()
    return user
