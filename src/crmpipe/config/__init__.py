"""The project file (`crmpipe.yml`): pydantic models, loading, clear errors."""
