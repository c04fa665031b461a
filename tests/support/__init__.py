"""Helpers and fixtures the test modules share (no test module imports another).

tests/ is on the import path (pyproject's `pythonpath`), so tests write `from support.search
import make_search_db`. conftest.py registers the fixture modules (`support.pg`,
`support.browser`) as plugins and marks the tests that use them.
"""
