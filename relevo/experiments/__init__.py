"""Experiments (issue 12): assignment by deterministic hashing, as GrowthBook does it, so that
every server, and GrowthBook's own SDKs given the same seed, put a visitor in the same arm."""
