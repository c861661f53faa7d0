"""The read API: the shared view, as each team may see it."""
