"""The run report: what it says (collected from the warehouse) and its HTML page."""
