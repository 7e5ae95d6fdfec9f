"""App pages: one file per page (``render(...)`` + a ``__main__`` hook for st.navigation) and the
private helpers they share (``_viewer``, ``_checkpoint``, ``_inputs``, ``_analysis``, ``_charts``)."""
