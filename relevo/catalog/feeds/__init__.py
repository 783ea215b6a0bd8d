"""Product feed readers. Each yields, per row, either a Product or a Rejected row with its
line (or item) number and the reason, so an import reports what it skipped and why."""
