"""Defences against hostile input and hostile networks."""
