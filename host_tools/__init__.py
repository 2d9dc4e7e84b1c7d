"""Kassa host tools: the `kassa` command and the libraries behind it."""
