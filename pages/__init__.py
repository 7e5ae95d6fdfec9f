"""App pages: one file per page (``render(...)`` plus a ``__main__`` hook that st.navigation runs)
and the private helpers they share: ``_viewer`` (3Dmol HTML), ``_checkpoint`` (model loading and
sidebar), ``_inputs`` (user molecules), ``_charts`` (figures; the numbers come from ``inertialar.chem.report``),
``_entry`` (page start-up)."""
