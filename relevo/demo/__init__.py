"""Demo shop."""
