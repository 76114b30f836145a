"""Customers one by one: where each one is in the journey, and one customer's timeline."""
