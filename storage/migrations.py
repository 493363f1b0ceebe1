"""Numbered schema migrations, applied in order and recorded in `schema_version` (GUIDE.md §3).

Each migration is a list of statements run in one transaction. Identifiers come from
`CREATE SEQUENCE` + `DEFAULT nextval(...)` (DuckDB rejects SERIAL and IDENTITY).

No FOREIGN KEY constraints: DuckDB implements an UPDATE of a referenced row as delete + insert
and refuses it while the key is referenced, and jobs and orders are updated all day. Integrity of
references is kept by the services, which are the only writers.
"""

from __future__ import annotations

import duckdb

_V1 = """
CREATE SEQUENCE staff_id_seq START 1;
CREATE TABLE staff (
    id BIGINT PRIMARY KEY DEFAULT nextval('staff_id_seq'),
    name VARCHAR NOT NULL UNIQUE,
    role VARCHAR NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);

CREATE SEQUENCE import_batch_id_seq START 1;
CREATE TABLE import_batch (
    id BIGINT PRIMARY KEY DEFAULT nextval('import_batch_id_seq'),
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    rows_read INTEGER NOT NULL,
    orders_created INTEGER NOT NULL,
    orders_updated INTEGER NOT NULL,
    orders_unchanged INTEGER NOT NULL,
    jobs_created INTEGER NOT NULL,
    customers_created INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    summary VARCHAR NOT NULL
);

CREATE SEQUENCE customer_id_seq START 1;
CREATE TABLE customers (
    id BIGINT PRIMARY KEY DEFAULT nextval('customer_id_seq'),
    customer_key VARCHAR UNIQUE,
    name VARCHAR NOT NULL,
    email VARCHAR,
    phone VARCHAR,
    preferred_channel VARCHAR NOT NULL DEFAULT 'email',
    marketing_consent BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    import_batch_id BIGINT
);

CREATE SEQUENCE order_id_seq START 1;
CREATE TABLE orders (
    id BIGINT PRIMARY KEY DEFAULT nextval('order_id_seq'),
    source VARCHAR NOT NULL,
    match_key VARCHAR NOT NULL,
    external_id VARCHAR,
    name VARCHAR NOT NULL,
    customer_id BIGINT,
    financial_status VARCHAR,
    fulfillment_status VARCHAR,
    currency VARCHAR NOT NULL,
    subtotal DECIMAL(12,2) NOT NULL DEFAULT 0,
    shipping DECIMAL(12,2) NOT NULL DEFAULT 0,
    taxes DECIMAL(12,2) NOT NULL DEFAULT 0,
    total DECIMAL(12,2) NOT NULL,
    refunded_amount DECIMAL(12,2) NOT NULL DEFAULT 0,
    placed_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    notes VARCHAR,
    note_attributes VARCHAR,
    tags VARCHAR,
    shipping_address VARCHAR,
    source_name VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    import_batch_id BIGINT,
    UNIQUE (source, match_key)
);

CREATE SEQUENCE payment_id_seq START 1;
CREATE TABLE payments (
    id BIGINT PRIMARY KEY DEFAULT nextval('payment_id_seq'),
    order_id BIGINT NOT NULL,
    amount DECIMAL(12,2) NOT NULL,
    currency VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    source VARCHAR NOT NULL,          -- 'shopify' (known from the export) or 'counter'
    taken_at TIMESTAMPTZ NOT NULL,
    taken_by VARCHAR NOT NULL,
    note VARCHAR,
    import_batch_id BIGINT
);

CREATE SEQUENCE order_line_id_seq START 1;
CREATE TABLE order_lines (
    id BIGINT PRIMARY KEY DEFAULT nextval('order_line_id_seq'),
    order_id BIGINT NOT NULL,
    line_no INTEGER NOT NULL,
    title VARCHAR NOT NULL,
    sku VARCHAR,
    vendor VARCHAR,
    quantity INTEGER NOT NULL,
    price DECIMAL(12,2) NOT NULL,
    options VARCHAR,
    UNIQUE (order_id, line_no)
);

CREATE SEQUENCE job_id_seq START 1;
CREATE TABLE jobs (
    id BIGINT PRIMARY KEY DEFAULT nextval('job_id_seq'),
    job_number VARCHAR NOT NULL UNIQUE,
    order_id BIGINT NOT NULL,
    order_line_id BIGINT,
    piece VARCHAR NOT NULL,
    metal VARCHAR,
    karat VARCHAR,
    stones VARCHAR,
    ring_size_mm DECIMAL(5,2),
    ring_size_text VARCHAR,
    engraving VARCHAR,
    notes VARCHAR,
    details JSON,
    design_needed BOOLEAN NOT NULL DEFAULT TRUE,
    promised_date DATE,
    rush BOOLEAN NOT NULL DEFAULT FALSE,
    assignee_id BIGINT,
    last_bench_jeweler_id BIGINT,
    location VARCHAR NOT NULL DEFAULT 'front_desk',
    state VARCHAR NOT NULL,
    held_from VARCHAR,
    stage_entered_at TIMESTAMPTZ NOT NULL,
    revision_rounds INTEGER NOT NULL DEFAULT 0,
    reworks INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    import_batch_id BIGINT
);

CREATE SEQUENCE job_status_history_id_seq START 1;
CREATE TABLE job_status_history (
    id BIGINT PRIMARY KEY DEFAULT nextval('job_status_history_id_seq'),
    job_id BIGINT NOT NULL,
    from_state VARCHAR,
    to_state VARCHAR NOT NULL,
    trigger VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    note VARCHAR
);

CREATE SEQUENCE audit_log_id_seq START 1;
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    entity_id BIGINT,
    before JSON,
    after JSON,
    changed_at TIMESTAMPTZ NOT NULL,
    import_batch_id BIGINT
);

CREATE SEQUENCE notification_outbox_id_seq START 1;
CREATE TABLE notification_outbox (
    id BIGINT PRIMARY KEY DEFAULT nextval('notification_outbox_id_seq'),
    dedupe_key VARCHAR NOT NULL UNIQUE,
    job_id BIGINT NOT NULL,
    customer_id BIGINT,
    channel VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'queued',
    payload JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    sent_at TIMESTAMPTZ
);

CREATE SEQUENCE design_version_id_seq START 1;
CREATE TABLE design_versions (
    id BIGINT PRIMARY KEY DEFAULT nextval('design_version_id_seq'),
    job_id BIGINT NOT NULL,
    version_no INTEGER NOT NULL,
    file_path VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    media_type VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    note VARCHAR,
    uploaded_by VARCHAR NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    UNIQUE (job_id, version_no)
);

CREATE SEQUENCE design_decision_id_seq START 1;
CREATE TABLE design_decisions (
    id BIGINT PRIMARY KEY DEFAULT nextval('design_decision_id_seq'),
    job_id BIGINT NOT NULL,
    design_version_id BIGINT NOT NULL,
    version_no INTEGER NOT NULL,
    decision VARCHAR NOT NULL,        -- 'approved' | 'changes_requested'
    channel VARCHAR NOT NULL,         -- in person, phone, email, ...
    decided_at TIMESTAMPTZ NOT NULL,
    taken_by VARCHAR NOT NULL,
    customer_words VARCHAR
);

CREATE SEQUENCE qc_check_id_seq START 1;
CREATE TABLE qc_checks (
    id BIGINT PRIMARY KEY DEFAULT nextval('qc_check_id_seq'),
    job_id BIGINT NOT NULL,
    checklist JSON NOT NULL,
    all_passed BOOLEAN NOT NULL,
    signed_by_id BIGINT NOT NULL,
    signed_by VARCHAR NOT NULL,
    signed_at TIMESTAMPTZ NOT NULL,
    note VARCHAR
);

CREATE SEQUENCE job_note_id_seq START 1;
CREATE TABLE job_notes (
    id BIGINT PRIMARY KEY DEFAULT nextval('job_note_id_seq'),
    job_id BIGINT NOT NULL,
    author VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX jobs_order_idx ON jobs(order_id);
CREATE INDEX history_job_idx ON job_status_history(job_id);
CREATE INDEX audit_entity_idx ON audit_log(entity, entity_id);
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "jobs, orders, customers, staff, history, audit, outbox, designs, QC", _V1),
]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("""CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL)""")
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations the database has not had yet; return their numbers.

    Each runs in its own transaction with its `schema_version` row, so a failed one leaves the
    database at the previous version.
    """
    applied = []
    done = current_version(con)
    for number, description, script in MIGRATIONS:
        if number <= done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in _statements(script):
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [number, description])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
