"""Checks and the instructor pipeline for the graded assignments."""
