"""Analytics marts: one SQL file per mart, run in dependency order (`build.py`)."""
