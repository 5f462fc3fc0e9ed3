"""The SQLite store (see `Store`) and its schema history (see `migrations`)."""

from .migrations import MIGRATIONS, apply_migrations, migration
from .store import RUN_KINDS, RUN_STATUSES, Store, default_db_path, now

__all__ = [
    "MIGRATIONS", "RUN_KINDS", "RUN_STATUSES", "Store", "apply_migrations", "default_db_path",
    "migration", "now",
]
