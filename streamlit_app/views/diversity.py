import altair as alt
import streamlit as st

from curate.quality.diversity import (
    DiversityConfig,
    cluster_examples,
    diversity,
    latest_run,
    length_histogram,
    map_points,
    shares,
)
from streamlit_app.common import get_store
from streamlit_app.render import escape_markdown, natural_order, table

store = get_store()
st.title("Diversity")
if st.button("Analyze the pairs", type="primary"):
    with st.spinner("Embedding and clustering…"):
        diversity(store, DiversityConfig())
run = latest_run(store)
if run is None:
    st.info("No analysis yet: press the button above (or run `tuneloop diversity`).")
    st.stop()
summary = run["summary"]
st.caption(f"Run {run['id']} of {run['created_at']:%Y-%m-%d %H:%M}: {summary['pairs']:,} pairs, {summary['k']} clusters")

metrics = st.columns(4)
metrics[0].metric("distinct-1 (questions)", summary["distinct_1_instructions"])
metrics[1].metric("distinct-2 (questions)", summary["distinct_2_instructions"])
metrics[2].metric("mean nearest-neighbour similarity", summary["mean_nearest_similarity"])
metrics[3].metric("near copies (≥ 0.95)", f"{100 * summary['share_near_copies']:.1f}%")

color = st.radio("Colour the map by", ["cluster", "origin", "status"], horizontal=True)
points = map_points(store, run["id"])
st.altair_chart(alt.Chart(points).mark_circle(size=30, opacity=0.7).encode(
    x=alt.X("x", axis=None), y=alt.Y("y", axis=None),
    # every value in the legend (Vega-Lite stops at 30 by default), clusters in number order
    color=alt.Color(color, sort=natural_order(points[color]), scale=alt.Scale(scheme="category20"),
                    legend=alt.Legend(orient="right", symbolLimit=0, columns=2 if points[color].nunique() > 20 else 1)),
    tooltip=["instruction", "cluster", "origin", "status"]).properties(height=420), width="stretch")

st.subheader("Clusters")
clusters = summary["clusters"]
examples = cluster_examples(store, run["id"]).groupby("cluster")["instruction"].apply(lambda s: " | ".join(s))
table([{**c, "examples": examples.get(c["cluster"], "")} for c in sorted(clusters, key=lambda c: -c["size"])])
thin = [c for c in clusters if c["thin"]]
if thin:
    st.warning("Thin clusters (few pairs; consider generating more): "
               + escape_markdown(", ".join(c["label"] for c in thin)))

left, right = st.columns(2)
for column, field in ((left, "instruction"), (right, "response")):
    column.subheader(f"{field.capitalize()} length (words)")
    column.bar_chart(length_histogram(store, field), x="words_from", y="pairs")
share_cols = st.columns(3)
for column, by in zip(share_cols, ("topic", "origin", "source")):
    column.subheader(f"By {by}")
    table(shares(store, by), column)
