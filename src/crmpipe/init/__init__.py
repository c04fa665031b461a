"""Guessing a `crmpipe.yml` from a folder of CSV files."""
