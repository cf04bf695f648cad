"""CLI verbs, one module each (discovered by :mod:`noether.cli`)."""
