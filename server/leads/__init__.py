"""Quick leads: captured in seconds, checked for duplicates, scored, owned, converted."""
