"""Versioned SQL migrations: files named NNNN_description.sql, applied in order."""
