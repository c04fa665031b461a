"""crmpipe: messy CRM exports in, one clean, searchable contact database out."""

__version__ = "0.1.0"
