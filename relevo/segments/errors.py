"""Errors of automatic segments.

RelevoError (relevo.errors)
└── SegmentsError (400)
    ├── InvalidCustomers (400)     inputs the segments cannot use: missing columns, NaN, a
    │                              customer listed twice, a k range that is not 2 or more
    ├── NotEnoughCustomers (400)   too few customers with an order to cluster them
    └── SegmentFilesError (500)    saved segment files that are missing, of another format
                                   version, or inconsistent with each other
"""

from __future__ import annotations

from relevo.errors import RelevoError


class SegmentsError(RelevoError):
    status_code = 400
    code = "segments_error"


class InvalidCustomers(SegmentsError):
    code = "invalid_customers"


class NotEnoughCustomers(SegmentsError):
    code = "not_enough_customers"


class SegmentFilesError(SegmentsError):
    status_code = 500
    code = "segment_files_error"
