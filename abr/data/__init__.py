"""Package data: the embedded default video."""
