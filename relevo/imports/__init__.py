"""Bulk imports: Segment-format event files and offline/POS order files."""
