"""The structured search: generator families derived at reduced widths and lifted, at any size."""
