"""Hostile cases: every bad input or fault ends in a right result or a clear error."""
