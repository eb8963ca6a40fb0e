import streamlit as st

from curate.errors import TuneloopError
from curate.quality.findings import ACTIONS, act, conflict_sides, count, findings, keep_in_conflict, latest_scan, report
from curate.quality.scan import KINDS, scan
from streamlit_app import changes_panel
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown

store = get_store()
user = require("review")   # annotators rate; changing the data is for reviewers and admins
st.title("Quality")
st.caption("What is wrong with a pair: answers that belong to another question, deflections, cut answers,"
           " mojibake, conflicting answers, placeholders, ungrounded generated pairs. A finding is evidence, not a"
           " verdict: nothing changes until you act, and every action can be undone.")
if said := st.session_state.pop("quality_done", None):   # what the last action did, after the page reran
    st.success(said)
if st.button("Scan all pairs", type="primary" if latest_scan(store) is None else "secondary"):
    with st.spinner("Checking every pair…"):
        st.success(escape_markdown(scan(store).summary()))
if latest_scan(store) is None:
    st.info("No scan yet: scan the pairs to see what is wrong with them.")
    st.stop()

counted = report(store)
cols = st.columns(min(len(counted["by_kind"]), 6) or 1)
for col, (kind, n) in zip(cols, counted["by_kind"].items()):
    col.metric(kind.replace("_", " "), f"{counted['open_by_kind'][kind]:,}",
               help=f"still to settle, of {n:,} found by the scan (the others' pairs are rejected or duplicates)")
st.caption(f"{counted['flagged_pairs']:,} of {counted['pairs']:,} pairs have findings (scan {counted['scan']});"
           " the counts are those still to settle.")

kinds = [k for k in KINDS if k in counted["by_kind"]]
if not kinds:
    st.success("No findings.")
    st.stop()
left, right = st.columns([1, 2])
kind = left.selectbox("Kind", kinds, format_func=lambda k: f"{k.replace('_', ' ')} ({counted['open_by_kind'][k]:,})")
min_score = right.slider("From score", 0.0, 1.0, 0.8 if kind != "misaligned" else 0.5, 0.05,
                         help="How sure the check is; the surest findings come first.")
shown = findings(store, kind, min_score, limit=20)
total = count(store, kind, min_score)

if kind == "conflict":
    st.subheader("Conflicting answers, side by side")
    for f in shown[:8]:
        sides = conflict_sides(store, f)
        with st.container(border=True):
            st.markdown("**Q:** " + escape_markdown(f["instruction"]))
            keep = []
            for column, side in zip(st.columns(len(sides)), sides):
                column.caption(f"pair {side['id']} · {side['status']}")
                column.markdown(escape_markdown(side["response"][:600]))
                if column.checkbox("keep", value=True, key=f"keep-{f['pair_id']}-{side['id']}"):
                    keep.append(side["id"])
            if st.button("Keep the checked answers, reject the others", key=f"settle-{f['pair_id']}"):
                done = keep_in_conflict(store, keep, [s["id"] for s in sides], user["name"])
                st.toast(f"rejected {done['changed']} pairs (change {done['change']})")
                st.rerun()
else:
    st.subheader(f"{total:,} findings of {kind.replace('_', ' ')} at {min_score:.2f} or more — the surest first")
    for f in shown:
        with st.container(border=True):
            st.caption(f"pair {f['pair_id']} · score {f['score']:.2f} · {escape_markdown(f['source'] or '')}"
                       f" · {f['status']}")
            st.markdown("**Q:** " + escape_markdown(f["instruction"][:300]))
            st.markdown("**A:** " + escape_markdown(f["response"][:500]))
            st.info(escape_markdown(f["detail"]))

st.subheader("Act on all of them")
action = st.radio("Action", list(ACTIONS), horizontal=True,
                  format_func=lambda a: {"reject": "Reject them", "review": "Send them to the rating queue"}[a])
confirm = st.checkbox(f"Yes, {action} all {total:,} pairs with {kind.replace('_', ' ')} ≥ {min_score:.2f}",
                      key=f"confirm-{kind}-{min_score}-{action}")
if st.button(f"{action.capitalize()} {total:,} pairs", disabled=not (confirm and total)):
    try:
        done = act(store, kind, min_score, action, apply=True, actor=user["name"])
        st.session_state["quality_done"] = f"{done['changed']:,} pairs changed (change {done['change']}); undo below"
        st.rerun()   # the counts and the list above show what is left
    except TuneloopError as exc:
        st.error(escape_markdown(str(exc)))

changes_panel.show(store, "quality")
