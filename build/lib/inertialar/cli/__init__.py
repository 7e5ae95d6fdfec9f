"""The command line, ``python -m inertialar`` (``main``) and its grammar (``args``)."""
