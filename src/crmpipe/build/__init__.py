"""Staging tables from raw rows (cleaned by role) and the canonical core tables."""
