"""pytest plugin (entry point ``pytest11``): fixtures and a hypothesis profile for JIT code."""
