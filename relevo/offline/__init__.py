"""Offline evaluation of recommenders: temporal splits, full-ranking metrics, the comparison
run behind `relevo evaluate`. Pure code over Interactions, no database."""
