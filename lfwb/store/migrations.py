"""The whole schema history, oldest first.

Each function is one schema change, appended with `@migration`; `migrate.apply_migrations`
runs the ones a file has not seen, in order of definition, in one write transaction.

Migrations are plain SQL (not sqlite-utils helpers) so they run inside our own transaction:
sqlite-utils commits after each call, which would let a second kernel see half a schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Append `fn` to the schema history. Order of definition is order of application."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE TABLE contexts (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'note',
            source TEXT,
            text TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX contexts_project ON contexts(project_id, id);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            kind TEXT NOT NULL,
            model TEXT,
            answered_by TEXT,
            runtime TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            prompt TEXT,
            output TEXT NOT NULL DEFAULT '',
            params_json TEXT NOT NULL DEFAULT '{}',
            seed INTEGER,
            input_tokens INTEGER,
            output_tokens INTEGER,
            ttft_ms REAL,
            duration_ms REAL,
            cost_usd REAL NOT NULL DEFAULT 0,
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            parent_id INTEGER REFERENCES runs(id) ON DELETE SET NULL
        );
        CREATE INDEX runs_project ON runs(project_id, id);
        CREATE INDEX runs_status ON runs(status);
        CREATE TABLE steps (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            prompt TEXT,
            output TEXT NOT NULL DEFAULT '',
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX steps_run ON steps(run_id, position);
        CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            run_id INTEGER REFERENCES runs(id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'code',
            language TEXT,
            filename TEXT,
            content TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX artifacts_run ON artifacts(run_id);
        CREATE TABLE models (
            name TEXT PRIMARY KEY,
            runtime TEXT NOT NULL,
            source TEXT NOT NULL,
            config_json TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE chat_sessions (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL,
            model TEXT,
            system TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, name)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX messages_session ON messages(session_id, id);
        """
    )


def _fts_sql(table: str, columns: list[str]) -> str:
    """FTS5 over `table` with the triggers sqlite-utils would make, so Datasette finds it.

    The porter stemmer lets "button" find "Buttons".
    """
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return f"""
        CREATE VIRTUAL TABLE {table}_fts USING fts5(
            {cols}, content=[{table}], content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER {table}_ai AFTER INSERT ON {table} BEGIN
            INSERT INTO {table}_fts (rowid, {cols}) VALUES (new.id, {new});
        END;
        CREATE TRIGGER {table}_ad AFTER DELETE ON {table} BEGIN
            INSERT INTO {table}_fts ({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old});
        END;
        CREATE TRIGGER {table}_au AFTER UPDATE ON {table} BEGIN
            INSERT INTO {table}_fts ({table}_fts, rowid, {cols}) VALUES ('delete', old.id, {old});
            INSERT INTO {table}_fts (rowid, {cols}) VALUES (new.id, {new});
        END;
        INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild');
    """


_RUNS_FTS = """
    CREATE VIRTUAL TABLE runs_fts USING fts5(
        prompt, output, content=[runs], content_rowid='id', tokenize='porter unicode61'
    );
    CREATE TRIGGER runs_ai AFTER INSERT ON runs WHEN new.status != 'running' BEGIN
        INSERT INTO runs_fts (rowid, prompt, output) VALUES (new.id, new.prompt, new.output);
    END;
    CREATE TRIGGER runs_ad AFTER DELETE ON runs WHEN old.status != 'running' BEGIN
        INSERT INTO runs_fts (runs_fts, rowid, prompt, output)
            VALUES ('delete', old.id, old.prompt, old.output);
    END;
    CREATE TRIGGER runs_au AFTER UPDATE OF prompt, output, status ON runs BEGIN
        INSERT INTO runs_fts (runs_fts, rowid, prompt, output)
            SELECT 'delete', old.id, old.prompt, old.output WHERE old.status != 'running';
        INSERT INTO runs_fts (rowid, prompt, output)
            SELECT new.id, new.prompt, new.output WHERE new.status != 'running';
    END;
    INSERT INTO runs_fts (rowid, prompt, output)
        SELECT id, prompt, output FROM runs WHERE status != 'running';
"""


@migration
def m002_full_text_search(conn: sqlite3.Connection) -> None:
    # A run is indexed once it stops running: a streaming run rewrites its output several
    # times a second, and re-indexing each flush (or each new row) would cost more than the
    # write itself. Search therefore finds finished, failed, cancelled and interrupted runs.
    conn.executescript(_fts_sql("contexts", ["name", "text"]) + _RUNS_FTS)


@migration
def m003_run_owner(conn: sqlite3.Connection) -> None:
    # Which process is writing a `running` row, so another kernel can tell a crash from a
    # run that is still going (pid + start time guards against pid reuse).
    conn.executescript(
        """
        ALTER TABLE runs ADD COLUMN owner_host TEXT;
        ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
        ALTER TABLE runs ADD COLUMN owner_started REAL;
        """
    )


@migration
def m004_costs_and_fallbacks(conn: sqlite3.Connection) -> None:
    # A run keeps the usage the API reported (thinking and cached tokens) and the fallback
    # links it skipped, with why. Fallback chains and project budgets live with the workspace.
    conn.executescript(
        """
        ALTER TABLE runs ADD COLUMN usage_json TEXT;
        ALTER TABLE runs ADD COLUMN skipped_json TEXT;
        CREATE TABLE aliases (
            name TEXT PRIMARY KEY,
            models_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE budgets (
            project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
            limit_usd REAL NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
    )


@migration
def m005_artifact_hashes(conn: sqlite3.Connection) -> None:
    # Artifacts are kept once per content within a run (lfwb/pipelines/artifacts.py): the hash
    # makes that check an index lookup. Rows written before this get theirs here. Not a unique
    # index: rows added by hand before may already repeat a content within a run.
    import hashlib

    conn.execute("ALTER TABLE artifacts ADD COLUMN sha256 TEXT")
    for row_id, content in conn.execute("SELECT id, content FROM artifacts").fetchall():
        digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
        conn.execute("UPDATE artifacts SET sha256 = ? WHERE id = ?", (digest, row_id))
    conn.execute("CREATE INDEX artifacts_run_sha256 ON artifacts(run_id, sha256)")


@migration
def m006_pipelines(conn: sqlite3.Connection) -> None:
    # Pipeline definitions, kept per workspace like models and aliases. A changed definition is
    # a new version of its name; a run points at the version (row) it used.
    conn.executescript(
        """
        CREATE TABLE pipelines (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            spec_yaml TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (name, version)
        );
        ALTER TABLE runs ADD COLUMN pipeline_id INTEGER REFERENCES pipelines(id);
        """
    )


@migration
def m007_pipeline_steps(conn: sqlite3.Connection) -> None:
    # A pipeline step is recorded like a run (lfwb/runs.py writes both): what it cost and how
    # long it took, who answered, and — for a rerun — the run whose output it reused.
    conn.executescript(
        """
        ALTER TABLE steps ADD COLUMN answered_by TEXT;
        ALTER TABLE steps ADD COLUMN runtime TEXT;
        ALTER TABLE steps ADD COLUMN params_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE steps ADD COLUMN input_tokens INTEGER;
        ALTER TABLE steps ADD COLUMN output_tokens INTEGER;
        ALTER TABLE steps ADD COLUMN ttft_ms REAL;
        ALTER TABLE steps ADD COLUMN duration_ms REAL;
        ALTER TABLE steps ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
        ALTER TABLE steps ADD COLUMN usage_json TEXT;
        ALTER TABLE steps ADD COLUMN skipped_json TEXT;
        ALTER TABLE steps ADD COLUMN reused_from_run INTEGER REFERENCES runs(id) ON DELETE SET NULL;
        """
    )


@migration
def m008_artifact_versions(conn: sqlite3.Connection) -> None:
    # A revision (`%lfw revise`, lfwb/preview/revise.py) is a new artifact pointing at the one
    # it revised, with the instruction that made it and its place in the chain: the history of
    # a component is its artifacts' parent links. Deleting a version leaves its children's
    # history cut there, not the children gone.
    conn.executescript(
        """
        ALTER TABLE artifacts ADD COLUMN parent_id INTEGER REFERENCES artifacts(id) ON DELETE SET NULL;
        ALTER TABLE artifacts ADD COLUMN instruction TEXT;
        ALTER TABLE artifacts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX artifacts_parent ON artifacts(parent_id);
        """
    )


@migration
def m009_context_chunks(conn: sqlite3.Connection) -> None:
    # Contexts in chunks for retrieval (lfwb/chat/): a chunk row per piece, full-text indexed.
    # AUTOINCREMENT so a deleted chunk's id is never handed to another: the vector index (a
    # sqlite-vec table made at runtime, not here, so plain sqlite3 still opens the file) points
    # at chunks by id. The float vectors sit in a plain table, readable without the extension,
    # apart from the chunks so that adding one does not re-index the chunk's text.
    # `context_indexes` has a row once a context is wholly chunked; none: index it on first use.
    conn.executescript(
        """
        CREATE TABLE context_chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            context_id INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
            chunk_index INTEGER NOT NULL,
            text TEXT NOT NULL,
            start_char INTEGER NOT NULL,
            end_char INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            UNIQUE (context_id, chunk_index)
        );
        CREATE TABLE context_chunk_embeddings (
            chunk_id INTEGER PRIMARY KEY REFERENCES context_chunks(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE TABLE context_indexes (
            context_id INTEGER PRIMARY KEY REFERENCES contexts(id) ON DELETE CASCADE,
            chunks INTEGER NOT NULL,
            indexed_at TEXT NOT NULL
        );
        """
        + _fts_sql("context_chunks", ["text"])
    )


@migration
def m010_chat_memory(conn: sqlite3.Connection) -> None:
    # A chat session keeps a rolling summary written by its model: the turns up to message
    # `summary_upto` are folded into it (`summary_turns` of them) and no longer sent as they are.
    # A message records how its answer ended (done, cancelled, failed) and, with --rag, the
    # context chunks it was given (ids and names only: a deleted context stays named).
    conn.executescript(
        """
        ALTER TABLE chat_sessions ADD COLUMN summary TEXT;
        ALTER TABLE chat_sessions ADD COLUMN summary_upto INTEGER;
        ALTER TABLE chat_sessions ADD COLUMN summary_turns INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE chat_sessions ADD COLUMN updated_at TEXT;
        ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'done';
        ALTER TABLE messages ADD COLUMN sources_json TEXT;
        """
    )


# Tables whose ids reach users (REST paths, run rows, chat messages), parents first.
_IDS_KEPT = ("projects", "contexts", "runs", "steps", "artifacts", "chat_sessions", "messages")


@migration
def m011_ids_never_reused(conn: sqlite3.Connection) -> None:
    # Without AUTOINCREMENT SQLite gives a new row max(id)+1, so deleting the newest run hands
    # its id to the next one, and a link, a bookmark or a client's cache then names another
    # row. A table cannot gain AUTOINCREMENT in place: each is rebuilt (SQLite's "12-step"
    # ALTER, run with foreign keys off, see migrate.py) from its own CREATE statement, with the
    # same columns, rows, indexes and triggers. Ids are kept, so the FTS indexes stay valid.
    for table in _IDS_KEPT:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        head, key = f"CREATE TABLE {table} (", "id INTEGER PRIMARY KEY,"
        if not sql.startswith(head) or key not in sql:
            raise sqlite3.DatabaseError(f"unexpected schema of {table}: {sql[:80]}")
        attached = [
            r[0]
            for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL",
                (table,),
            ).fetchall()
        ]
        new_sql = sql.replace(head, f"CREATE TABLE _new_{table} (", 1)
        conn.execute(new_sql.replace(key, "id INTEGER PRIMARY KEY AUTOINCREMENT,", 1))
        # Explicit ids into an AUTOINCREMENT table move its sqlite_sequence entry to the largest.
        conn.execute(f"INSERT INTO _new_{table} SELECT * FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE _new_{table} RENAME TO {table}")
        for statement in attached:
            conn.execute(statement)


@migration
def m012_vector_changes(conn: sqlite3.Connection) -> None:
    # Vector search ranks an in-memory copy of a project's vectors (lfwb/store/vectors.py).
    # These triggers log each vector added, changed or removed, whoever writes the file, so
    # that copy catches up by reading the new entries instead of the whole table. A chunk or
    # context deleted by a tool that leaves foreign keys off takes its vectors with it too.
    # An older lfwb's sqlite-vec table (`context_chunk_vectors`, vec0) stays untouched: only
    # sqlite-vec could drop it, and nothing reads it any more.
    conn.executescript(
        """
        CREATE TABLE context_vector_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            chunk_id INTEGER NOT NULL
        );
        CREATE TRIGGER context_vectors_added AFTER INSERT ON context_chunk_embeddings BEGIN
            INSERT INTO context_vector_changes (chunk_id) VALUES (new.chunk_id);
        END;
        CREATE TRIGGER context_vectors_changed AFTER UPDATE ON context_chunk_embeddings BEGIN
            INSERT INTO context_vector_changes (chunk_id) VALUES (old.chunk_id);
            INSERT INTO context_vector_changes (chunk_id) SELECT new.chunk_id WHERE new.chunk_id != old.chunk_id;
        END;
        CREATE TRIGGER context_vectors_removed AFTER DELETE ON context_chunk_embeddings BEGIN
            INSERT INTO context_vector_changes (chunk_id) VALUES (old.chunk_id);
        END;
        CREATE TRIGGER context_vectors_moved AFTER UPDATE OF project_id ON contexts BEGIN
            INSERT INTO context_vector_changes (chunk_id)
            SELECT e.chunk_id FROM context_chunk_embeddings e JOIN context_chunks c ON c.id = e.chunk_id
            WHERE c.context_id = new.id;
        END;
        CREATE TRIGGER context_chunks_take_vectors AFTER DELETE ON context_chunks BEGIN
            DELETE FROM context_chunk_embeddings WHERE chunk_id = old.id;
        END;
        CREATE TRIGGER contexts_take_chunks AFTER DELETE ON contexts BEGIN
            DELETE FROM context_chunks WHERE context_id = old.id;
            DELETE FROM context_indexes WHERE context_id = old.id;
        END;
        """
    )


@migration
def m013_step_attempts(conn: sqlite3.Connection) -> None:
    # A step with `check:` and `retries:` may ask its model several times; each attempt is a
    # row of its own (same run, position and name), numbered here. The step is its last one.
    conn.executescript("ALTER TABLE steps ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;")


@migration
def m014_schema_valid(conn: sqlite3.Connection) -> None:
    # Structured output (lfwb/structured.py): whether a run's (or a step's) answer matched the
    # schema it was decoded under — NULL when none was asked for; the schema is in params_json.
    conn.executescript(
        """
        ALTER TABLE runs ADD COLUMN schema_valid INTEGER;
        ALTER TABLE steps ADD COLUMN schema_valid INTEGER;
        """
    )


@migration
def m015_waited(conn: sqlite3.Connection) -> None:
    # A local model answers one generation at a time: a run (or a pipeline step) may wait for the
    # ones ahead of it before its model is its own. `waited_ms` is that wait, from its start; the
    # rest of `duration_ms` is the model's work (the timeline draws the two apart).
    conn.executescript(
        """
        ALTER TABLE runs ADD COLUMN waited_ms REAL;
        ALTER TABLE steps ADD COLUMN waited_ms REAL;
        """
    )


@migration
def m016_evals(conn: sqlite3.Connection) -> None:
    # Evals (lfwb/evals/): definitions kept by name and version like pipelines, and one row per
    # answer and check an eval run scored (its answers are runs whose parent is the eval run).
    conn.executescript(
        """
        CREATE TABLE evals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (name, version)
        );
        CREATE TABLE eval_scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            eval_run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            row_index INTEGER NOT NULL,
            model TEXT NOT NULL,
            answer_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            check_name TEXT NOT NULL,
            passed INTEGER NOT NULL,
            reason TEXT,
            judge_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL
        );
        CREATE INDEX eval_scores_run ON eval_scores(eval_run_id, model, row_index);
        """
    )


@migration
def m017_step_cache(conn: sqlite3.Connection) -> None:
    # The step cache (lfwb/pipelines/step_cache.py): a step or a `--cache` generation that
    # could repeat itself (temperature 0, or a fixed seed) keeps the hash of everything that
    # decides its answer; a later one with the same hash takes that answer (`cached_from`:
    # the row it came from) instead of asking the model. `%lfw cache clear` empties the keys.
    conn.executescript(
        """
        ALTER TABLE steps ADD COLUMN cache_key TEXT;
        ALTER TABLE steps ADD COLUMN cached_from INTEGER REFERENCES steps(id) ON DELETE SET NULL;
        ALTER TABLE runs ADD COLUMN cache_key TEXT;
        ALTER TABLE runs ADD COLUMN cached_from INTEGER REFERENCES runs(id) ON DELETE SET NULL;
        CREATE INDEX steps_cache_key ON steps(cache_key) WHERE cache_key IS NOT NULL;
        CREATE INDEX runs_cache_key ON runs(cache_key) WHERE cache_key IS NOT NULL;
        """
    )


@migration
def m018_sent_requests(conn: sqlite3.Connection) -> None:
    # What each run (or pipeline step) sent its model, kept once however often it is sent again
    # (lfwb/store/sent.py): texts by their SHA-256; messages as a prefix tree, so a chat turn
    # that repeats the history adds only its new messages; token counts per text and tokenizer.
    conn.executescript(
        """
        CREATE TABLE sent_texts (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            text TEXT NOT NULL
        );
        CREATE TABLE sent_messages (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER NOT NULL,
            role TEXT NOT NULL,
            text_id INTEGER NOT NULL REFERENCES sent_texts(id),
            UNIQUE (parent_id, role, text_id)
        );
        CREATE TABLE sent_counts (
            text_id INTEGER NOT NULL REFERENCES sent_texts(id),
            counted_by TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            PRIMARY KEY (text_id, counted_by)
        );
        CREATE TABLE sent_requests (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step_id INTEGER REFERENCES steps(id) ON DELETE CASCADE,
            raw INTEGER NOT NULL DEFAULT 0,
            last_message_id INTEGER NOT NULL REFERENCES sent_messages(id),
            settings_id INTEGER NOT NULL REFERENCES sent_texts(id),
            marks_json TEXT,
            counted_by TEXT
        );
        CREATE INDEX sent_requests_run ON sent_requests(run_id, step_id);
        """
    )


@migration
def m019_sent_pruned_by_what_went(conn: sqlite3.Connection) -> None:
    # A deleted request (its run's or step's cascade) notes its last message and settings text, so
    # pruning looks only at what it may have left unused; the indexes answer "still used?" quickly.
    conn.executescript(
        """
        CREATE TABLE sent_unused (message_id INTEGER NOT NULL, settings_id INTEGER NOT NULL);
        CREATE TRIGGER sent_requests_deleted AFTER DELETE ON sent_requests BEGIN
            INSERT INTO sent_unused (message_id, settings_id) VALUES (OLD.last_message_id, OLD.settings_id);
        END;
        CREATE INDEX sent_requests_last ON sent_requests(last_message_id);
        CREATE INDEX sent_requests_settings ON sent_requests(settings_id);
        CREATE INDEX sent_messages_text ON sent_messages(text_id);
        """
    )
