"""Offline evaluation of recommenders, the comparison run behind `relevo evaluate`: the runner
(runner.py, suite.py), the item-to-item tasks (tasks.py) and the output (report.py). Pure code
over Interactions, no database. The split, the queries and the metrics it measures with are in
relevo.recs (split, validation, metrics), which for_you uses while training: the server never
imports this package."""
