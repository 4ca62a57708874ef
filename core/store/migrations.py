"""Versioned schema migrations, applied in order on start. Never edit a shipped migration: add one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "base schema: users, projects, classes, sources, items, annotations, skips, jobs",
        """
        CREATE SEQUENCE seq_users START 1;
        CREATE SEQUENCE seq_projects START 1;
        CREATE SEQUENCE seq_classes START 1;
        CREATE SEQUENCE seq_sources START 1;
        CREATE SEQUENCE seq_items START 1;
        CREATE SEQUENCE seq_annotations START 1;
        CREATE SEQUENCE seq_skips START 1;
        CREATE SEQUENCE seq_jobs START 1;
        CREATE TABLE users (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_users'),
            username VARCHAR NOT NULL UNIQUE,
            display_name VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            password_hash VARCHAR NOT NULL,
            active BOOLEAN NOT NULL DEFAULT true,
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_projects'),
            name VARCHAR NOT NULL,
            description VARCHAR NOT NULL DEFAULT '',
            task_type VARCHAR NOT NULL,
            instructions VARCHAR NOT NULL DEFAULT '',
            instructions_url VARCHAR NOT NULL DEFAULT '',
            state VARCHAR NOT NULL DEFAULT 'active',
            target_precision DOUBLE NOT NULL DEFAULT 0.95,
            settings VARCHAR NOT NULL DEFAULT '{}',
            created_by VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE label_classes (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_classes'),
            project_id INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            color VARCHAR NOT NULL,
            hotkey VARCHAR,
            ord INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE project_members (
            project_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            added_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_sources'),
            project_id INTEGER NOT NULL,
            kind VARCHAR NOT NULL,            -- folder | upload
            path VARCHAR NOT NULL,
            watch BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMP NOT NULL DEFAULT now(),
            last_scan_at TIMESTAMP,
            last_scan_added INTEGER NOT NULL DEFAULT 0,
            last_scan_errors INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE items (
            id BIGINT PRIMARY KEY,
            project_id INTEGER NOT NULL,
            source_id INTEGER,
            path VARCHAR NOT NULL,            -- absolute path of the original file
            width INTEGER NOT NULL,           -- after EXIF orientation
            height INTEGER NOT NULL,
            orientation SMALLINT NOT NULL DEFAULT 1,
            sha1 VARCHAR NOT NULL,
            bytes BIGINT NOT NULL DEFAULT 0,
            status VARCHAR NOT NULL DEFAULT 'new',
            version INTEGER NOT NULL DEFAULT 0,    -- the newest annotation version (0: none)
            annotation_id BIGINT,
            class_ids INTEGER[],                    -- classes of the newest annotation (for counts)
            labeled_by VARCHAR,
            labeled_at TIMESTAMP,
            queue_rank DOUBLE,                      -- lower first; NULL after every ranked item
            created_at TIMESTAMP NOT NULL DEFAULT now(),
            updated_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE annotations (
            id BIGINT PRIMARY KEY,
            project_id INTEGER NOT NULL,
            item_id BIGINT NOT NULL,
            version INTEGER NOT NULL,
            parent_id BIGINT,
            author VARCHAR NOT NULL,
            source VARCHAR NOT NULL,          -- human | prelabel | import
            payload VARCHAR NOT NULL,         -- JSON, see core.domain
            class_ids INTEGER[],
            duration_ms INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE skips (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_skips'),
            project_id INTEGER NOT NULL,
            item_id BIGINT NOT NULL,
            author VARCHAR NOT NULL,
            reason VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_jobs'),
            project_id INTEGER,
            kind VARCHAR NOT NULL,
            state VARCHAR NOT NULL DEFAULT 'queued',  -- queued | running | done | failed | cancelled
            params VARCHAR NOT NULL DEFAULT '{}',
            progress DOUBLE NOT NULL DEFAULT 0,
            message VARCHAR NOT NULL DEFAULT '',
            result VARCHAR,
            error VARCHAR,
            attempts INTEGER NOT NULL DEFAULT 0,
            cancel_requested BOOLEAN NOT NULL DEFAULT false,
            created_by VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL DEFAULT now(),
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            heartbeat_at TIMESTAMP
        );
        """,
    ),
    (
        2,
        "assist: model runs, predictions, embeddings",
        """
        CREATE SEQUENCE seq_runs START 1;
        CREATE TABLE model_runs (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_runs'),
            project_id INTEGER NOT NULL,
            job_id INTEGER,
            kind VARCHAR NOT NULL,            -- featurize | train | validate | infer
            model VARCHAR NOT NULL DEFAULT '',
            device VARCHAR NOT NULL DEFAULT 'cpu',
            state VARCHAR NOT NULL DEFAULT 'running',
            started_at TIMESTAMP NOT NULL DEFAULT now(),
            finished_at TIMESTAMP,
            duration_s DOUBLE,
            compute_s DOUBLE,                 -- process CPU seconds (or GPU seconds) spent
            cost DOUBLE,                      -- compute_s x the configured price per hour
            n_labels INTEGER,
            n_items INTEGER,
            metrics VARCHAR NOT NULL DEFAULT '{}'
        );
        CREATE TABLE predictions (
            item_id BIGINT NOT NULL,
            project_id INTEGER NOT NULL,
            run_id INTEGER,
            payload VARCHAR NOT NULL,         -- a proposal, same shape as an annotation payload
            confidence DOUBLE NOT NULL,       -- of the whole proposal (min over its parts)
            shown BOOLEAN NOT NULL DEFAULT false, -- passed the calibrated threshold
            class_ids INTEGER[],
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE embeddings (
            item_id BIGINT NOT NULL,
            project_id INTEGER NOT NULL,
            model VARCHAR NOT NULL,
            vec BLOB NOT NULL,                -- float16 little-endian
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        3,
        "annotations.via: how a label was given (one image at a time, or a whole cluster page)",
        """
        ALTER TABLE annotations ADD COLUMN via VARCHAR DEFAULT 'item';
        """,
    ),
    (
        4,
        "annotations.proposal_kept: whether the label kept the model's shown proposal (NULL: none shown)",
        """
        ALTER TABLE annotations ADD COLUMN proposal_kept BOOLEAN;
        """,
    ),
    (
        5,
        "annotations.origin: the file an imported label came from (NULL for labels given in annota)",
        """
        ALTER TABLE annotations ADD COLUMN origin VARCHAR;
        """,
    ),
    (
        6,
        "sign-in: sessions (a hash of the browser's token), failed sign-in counts, must_change_password",
        """
        CREATE TABLE sessions (
            token_hash VARCHAR PRIMARY KEY,   -- SHA-256 of the browser's token; the token is never stored
            user_id INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT now(),
            expires_at TIMESTAMP NOT NULL,
            revoked_at TIMESTAMP,             -- sign out, a password change, deactivation
            last_seen_at TIMESTAMP
        );
        CREATE TABLE sign_in_failures (
            key VARCHAR PRIMARY KEY,          -- user:NAME or client:ADDRESS
            failures INTEGER NOT NULL,
            last_failure_at TIMESTAMP NOT NULL
        );
        ALTER TABLE users ADD COLUMN must_change_password BOOLEAN DEFAULT false;
        """,
    ),
    (
        7,
        "sources: the files the latest scan refused, with their reasons (JSON list of [path, reason])",
        "ALTER TABLE sources ADD COLUMN last_scan_refused VARCHAR;",
    ),
    (
        8,
        "teams and quality: member roles, archived projects, removed images, reviews, consensus and gold",
        """
        ALTER TABLE project_members ADD COLUMN role VARCHAR DEFAULT 'labeler';  -- owner | reviewer | labeler
        UPDATE project_members SET role = 'labeler' WHERE role IS NULL;
        ALTER TABLE projects ADD COLUMN archived_at TIMESTAMP;                   -- NULL: not archived
        ALTER TABLE items ADD COLUMN review_state VARCHAR;  -- NULL: not reviewed | approved | rejected | fixed
        ALTER TABLE items ADD COLUMN gold BOOLEAN DEFAULT false;                 -- a reviewer's reference answer
        -- images removed from a project: their rows leave items (so every view, queue and export drops
        -- them); their annotations stay as history; a later scan does not bring them back
        CREATE TABLE removed_items (
            item_id BIGINT PRIMARY KEY,
            project_id INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            sha1 VARCHAR NOT NULL,
            removed_by VARCHAR NOT NULL,
            removed_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE SEQUENCE seq_reviews START 1;
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY DEFAULT nextval('seq_reviews'),
            project_id INTEGER NOT NULL,
            item_id BIGINT NOT NULL,
            version INTEGER NOT NULL,         -- the annotation version the verdict is about
            reviewer VARCHAR NOT NULL,
            verdict VARCHAR NOT NULL,         -- approved | rejected
            reason VARCHAR NOT NULL DEFAULT '',
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        -- consensus and gold answers, given without seeing anyone else's; never an item's label by itself
        CREATE SEQUENCE seq_answers START 1;
        CREATE TABLE blind_answers (
            id BIGINT PRIMARY KEY DEFAULT nextval('seq_answers'),
            project_id INTEGER NOT NULL,
            item_id BIGINT NOT NULL,
            author VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,            -- consensus | gold
            payload VARCHAR NOT NULL,
            class_ids INTEGER[],
            duration_ms INTEGER,
            score DOUBLE,                     -- gold: agreement with the gold label (0..1)
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        CREATE TABLE consensus_items (
            item_id BIGINT PRIMARY KEY,
            project_id INTEGER NOT NULL,
            k INTEGER NOT NULL,               -- answers wanted, from k different labelers
            state VARCHAR NOT NULL DEFAULT 'open',  -- open | merged | review
            agreement DOUBLE,                 -- once k answers are in (0..1)
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        9,
        "audit labels: the audit items of the calibration sample, with the model's confidence when labeled",
        """
        -- an audit item (core.assist.audit: a seeded-hash flag) once it is in the complete audit prefix;
        -- confidence and bin: the latest proposal's confidence for it before it was labeled (NULL: none)
        CREATE TABLE audit_labels (
            item_id BIGINT PRIMARY KEY,
            project_id INTEGER NOT NULL,
            run_id INTEGER,
            confidence DOUBLE,
            bin INTEGER,
            created_at TIMESTAMP NOT NULL DEFAULT now()
        );
        """,
    ),
]
