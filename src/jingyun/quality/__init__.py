"""Data quality: reconciliation checks on the warehouse."""
