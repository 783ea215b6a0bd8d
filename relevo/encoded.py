"""A value type shared by the domain and storage edges."""

from __future__ import annotations


class EncodedJson(str):
    """JSON text encoded once where it was cheapest (outside the write lock); stored as is."""
