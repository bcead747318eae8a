"""Random stories against the real app and a small reference model (Hypothesis stateful)."""
