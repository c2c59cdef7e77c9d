"""Streamlit's caches live as long as the process: a dashboard test module imports `fresh_streamlit_caches` (an
autouse fixture) so that every test in it starts from a clean slate."""

import pytest
import streamlit as st


@pytest.fixture(autouse=True)
def fresh_streamlit_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
