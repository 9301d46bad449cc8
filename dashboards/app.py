"""GPU Shopper's Streamlit entry point: checks settings, then runs the chosen page.

Run it with `uv run streamlit run dashboards/app.py`. Add a page by adding its script
under `pages/` and a `st.Page` line to `PAGES`.
"""

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts only this folder on sys.path; the pages import `dashboards` and
# `shopper_pipelines` from the repository root.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from dashboards import data  # noqa: E402
from shopper_pipelines.errors import SettingsError  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGES = [
    st.Page(PAGES_DIR / "shop.py", title="Shop", default=True),
    st.Page(PAGES_DIR / "sessions.py", title="Sessions"),
    st.Page(PAGES_DIR / "costs.py", title="Costs"),
    st.Page(PAGES_DIR / "benchmarks.py", title="Benchmarks"),
]

st.set_page_config(page_title="GPU Shopper", layout="wide")

try:
    data.settings()
except SettingsError as error:
    st.error(f"GPU Shopper cannot start: {error}")
    st.stop()

st.navigation(PAGES).run()
