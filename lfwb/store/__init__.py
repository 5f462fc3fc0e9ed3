"""The SQLite store (see `Store`) and its schema history (see `migrations`)."""

from .connection import default_db_path
from .migrate import apply_migrations, now
from .migrations import MIGRATIONS, migration
from .runs import RUN_KINDS, RUN_STATUSES
from .store import Store

__all__ = [
    "MIGRATIONS",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Store",
    "apply_migrations",
    "default_db_path",
    "migration",
    "now",
]
