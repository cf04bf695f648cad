"""Hypothesis strategies and assertions for property-testing symmetry claims."""
