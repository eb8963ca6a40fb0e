import pandas as pd
import streamlit as st

from curate import rating
from streamlit_app.common import get_store, require
from streamlit_app.render import escape_markdown, table

store = get_store()
reviewer = require("review")
st.title("Review")

st.subheader("Approval")
rule = rating.get_rule(store)
with st.form("rule"):
    left, right = st.columns(2)
    k = left.number_input("Ratings a pair needs (k)", min_value=1, value=rule.min_ratings)
    quality = right.number_input("Mean quality needed", min_value=1.0, max_value=5.0, value=float(rule.min_quality),
                                 step=0.5)
    if st.form_submit_button("Save rule and approve", type="primary"):
        rating.set_rule(store, rating.ApprovalRule(int(k), float(quality)))
        st.success(f"approved {rating.approve(store)} pairs")

st.subheader("Disagreements")
pending = rating.disagreements(store)
if not pending:
    st.info("No disagreements waiting for a decision.")
for item in pending:
    with st.container(border=True):
        st.markdown(f"**pair {item['id']}** · " + escape_markdown(item["instruction"]))
        st.caption(escape_markdown(item["response"][:400]))
        columns = st.columns(len(item["ratings"]))
        for column, (annotator, answers) in zip(columns, item["ratings"].items()):
            column.markdown(f"**{escape_markdown(annotator)}**")
            for question, value in answers.items():
                column.caption(f"{question}: {escape_markdown(str(value))[:300]}")
        approve_col, reject_col = st.columns(2)
        approve_col.button("Approve", key=f"approve-{item['id']}", on_click=rating.review,
                           args=(store, reviewer, item["id"], "approve"))
        reject_col.button("Reject", key=f"reject-{item['id']}", on_click=rating.review,
                          args=(store, reviewer, item["id"], "reject"))

st.subheader("Agreement")
numbers = rating.agreement(store)
columns = st.columns(max(len(numbers["questions"]), 1))
for column, (name, q) in zip(columns, numbers["questions"].items()):
    column.metric(f"{name}: Krippendorff's α ({q['level']})", "n/a" if q["alpha"] is None else f"{q['alpha']:.3f}",
                  help=f"over {q['pairs_with_2_or_more']} pairs rated by two or more people")
if numbers["kappa"]:
    st.write("Cohen's κ per pair of annotators")
    table(pd.DataFrame(numbers["kappa"]))
if numbers["annotators"] or numbers["judges"]:
    st.write("Annotators, and model judges beside them (marked as models: their scores are suggestions)")
    table(pd.DataFrame(numbers["annotators"] + numbers["judges"]))
