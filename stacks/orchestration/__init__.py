"""Constructs of the orchestration stack (issue 4)."""
