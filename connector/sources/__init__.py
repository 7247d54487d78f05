"""Tracker sources: where milestones come from."""
