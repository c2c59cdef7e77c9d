"""Overview: what is in the bank. (Minimal page until the dashboard lands.)"""

import pandas as pd
import streamlit as st

from bankcore import Bank, BankcoreError

st.set_page_config(page_title="bankcore", page_icon="🏦", layout="wide")
st.title("bankcore — what the agent learned")

try:
    stats = Bank().stats()
except BankcoreError as exc:
    st.error(str(exc))
    st.stop()

counts = stats["counts"]
cols = st.columns(5)
for col, (label, key) in zip(cols, [("Runs", "runs"), ("Trajectories", "trajectories"), ("Steps", "steps"),
                                     ("Verdicts", "verdicts"), ("Memory items", "memory_items")]):
    col.metric(label, f"{counts[key]:,}")

if stats["runs"]:
    st.subheader("Runs")
    st.dataframe(pd.DataFrame([{
        "run": r["name"], "format": r["format"], "trajectories": r["trajectories"], "mean steps": r["mean_steps"],
        "success (truth)": r["truth"]["success_rate"], "success (verdict)": r["verdict"]["success_rate"],
    } for r in stats["runs"]]), hide_index=True)
else:
    st.info("The bank is empty. Import trajectories with `bankcore import PATH` or build the demo with "
            "`bankcore demo`.")
st.caption(f"Bank file: {stats['bank']}")
