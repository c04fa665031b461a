"""The DuckDB warehouse: connection, schemas and the run registry."""
