"""Faust stream agents, the shared view, its store and read API."""
