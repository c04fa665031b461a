"""Demo cases: generated source files with ground truth, run end to end."""
