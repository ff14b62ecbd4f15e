"""Differentially private aggregates (docs/aggregates.md): group-by counts with OpenDP noise, privacy budgets
per project and per release, the aggregate access tier, and the public enforcement summary."""
