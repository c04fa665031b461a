"""The `crmpipe` command line (Typer). Every command is a thin call into a library function of
the same name; errors a user can fix are printed as one line and exit with status 1.

The commands live in modules by what they do (`build`, `query`, `store`, `sync`, ...);
importing them registers them on the one `app`."""

from crmpipe.cli import audit, build, query, store, sync  # noqa: F401  (registers the commands)
from crmpipe.cli.common import app

__all__ = ["app"]
