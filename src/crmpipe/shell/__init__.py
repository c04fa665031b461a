"""The interactive prompt: queries, read-only SQL and backslash commands."""
