"""Connectors through which agency systems publish events."""
