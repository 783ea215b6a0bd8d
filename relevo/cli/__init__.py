"""The ``relevo`` command line."""
