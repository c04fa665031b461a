"""Rendering for people: charts (SVG and PNG) and console tables."""
