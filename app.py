"""InertialAR Studio: the Streamlit router. Run with ``streamlit run app.py``.

Only page setup, the shared model picker in the sidebar, and navigation live here; each page is
a file in ``pages/`` whose ``render(loaded_model)`` does the work.
"""

import streamlit as st

from pages import _checkpoint, _entry

st.set_page_config(page_title="InertialAR Studio", page_icon="⚛️", layout="wide")
navigation = st.navigation([
    st.Page("pages/generate.py", title="Generate", icon=":material/science:", default=True),
    st.Page("pages/canonicalization.py", title="Canonicalization lab", icon=":material/explore:"),
    st.Page("pages/failures.py", title="Failure inspector", icon=":material/bug_report:"),
    st.Page("pages/benchmarks.py", title="Model & benchmarks", icon=":material/monitoring:"),
])
_checkpoint.sidebar()
with _entry.routing():  # page files run directly by Streamlit hand over to this router (see _entry)
    navigation.run()
