"""Figures: functions that take arrays and return a matplotlib Figure; callers save them."""
