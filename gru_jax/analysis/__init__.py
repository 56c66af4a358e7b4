"""Analyses of trained runs: canonical form, generalization, comparison, dissection, events."""
