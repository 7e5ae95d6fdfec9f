"""InertialAR Studio: the Streamlit router. Run with ``streamlit run app.py``.

Only page setup, the shared model picker in the sidebar, and navigation live here; each page is
a file in ``pages/`` whose ``render(loaded_model)`` does the work.
"""

import streamlit as st

from pages import _checkpoint

st.set_page_config(page_title="InertialAR Studio", page_icon="⚛️", layout="wide")
# File names differ from the URL paths on purpose: Streamlit also treats a folder named pages/ as
# old-style (v1) pages keyed by file name, and a clash would run a page file without this router.
navigation = st.navigation([
    st.Page("pages/generate_page.py", title="Generate", icon=":material/science:", url_path="generate",
            default=True),
    st.Page("pages/canonicalization_page.py", title="Canonicalization lab", icon=":material/explore:",
            url_path="canonicalization"),
    st.Page("pages/failures_page.py", title="Failure inspector", icon=":material/bug_report:", url_path="failures"),
    st.Page("pages/benchmarks_page.py", title="Model & benchmarks", icon=":material/monitoring:",
            url_path="benchmarks"),
])
_checkpoint.sidebar()
navigation.run()
