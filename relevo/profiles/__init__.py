"""Customer profiles computed from events.

Pure cores: ``state`` (fold events into computed attributes), ``traits`` (last-write-wins),
``device``, ``traffic`` (source classification), ``lifecycle``, ``event_counts``. The
``materializer`` keeps stored profiles up to date from the event log; ``view`` shapes what the
API returns.
"""
