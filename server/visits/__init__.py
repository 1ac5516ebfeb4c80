"""Visits: the plan of a rep's day, check-in and check-out at the customer, and what came of it."""
