"""Relevo: a self-hosted personalization engine.

The request flow reads outward-in: ``relevo.api`` (HTTP edge) calls the domain packages
(``tracking``, ``identity``, ``profiles``, ``workspaces``), which reach storage only through
``relevo.storage``.
"""

__version__ = "0.1.0"
