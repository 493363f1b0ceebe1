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

# Inventory (issue 5): items, locations, the append-only ledger, a balance table kept from it in
# the same transaction (a test checks it against the ledger's sums), planned materials per job,
# metal results at the end of production, cycle counts. Quantities are in the item's unit:
# pieces for stones, parcels and findings, grams for metal (DECIMAL(10,3)); carats DECIMAL(8,3).
_V2 = """
CREATE SEQUENCE inventory_location_id_seq START 1;
CREATE TABLE inventory_locations (
    id BIGINT PRIMARY KEY DEFAULT nextval('inventory_location_id_seq'),
    code VARCHAR NOT NULL UNIQUE,     -- SAFE, SHOWCASE, BENCH, BENCH-<staff id>, VENDOR-<n>
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,            -- safe | showcase | bench | vendor
    staff_id BIGINT,                  -- a bench jeweler's own bench
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO inventory_locations (code, name, kind, created_at) VALUES
    ('SAFE', 'Safe', 'safe', now()),
    ('SHOWCASE', 'Showcase', 'showcase', now()),
    ('BENCH', 'Bench (unassigned)', 'bench', now());

CREATE SEQUENCE inventory_item_id_seq START 1;
CREATE TABLE inventory_items (
    id BIGINT PRIMARY KEY DEFAULT nextval('inventory_item_id_seq'),
    code VARCHAR NOT NULL UNIQUE,     -- S-0012 stone, P- melee parcel, M- metal, F- finding
    category VARCHAR NOT NULL,        -- stone | melee | metal | finding
    description VARCHAR NOT NULL,
    unit VARCHAR NOT NULL,            -- pc | g
    species VARCHAR,
    origin VARCHAR,                   -- natural | lab_grown
    shape VARCHAR,
    carat DECIMAL(8,3),               -- a stone's weight, a parcel's total ct received
    pieces_received INTEGER,          -- a parcel's pieces received (carat / pieces = ct each)
    colour VARCHAR,
    clarity VARCHAR,
    cut VARCHAR,
    measurements VARCHAR,
    cert_lab VARCHAR,
    cert_number VARCHAR,
    alloy VARCHAR,                    -- 14K yellow, 18K white, Pt950, 925 silver
    fineness INTEGER,                 -- parts per thousand: 585, 750, 950, 925
    reorder_point DECIMAL(10,3),
    unit_cost DECIMAL(12,2),          -- per piece, or per gram of metal
    currency VARCHAR NOT NULL,
    supplier VARCHAR,
    ownership VARCHAR NOT NULL DEFAULT 'owned',   -- owned | memo | customer
    memo_dealer VARCHAR,
    memo_date DATE,
    memo_due_date DATE,
    customer_id BIGINT,
    owner_job_id BIGINT,
    declared_value DECIMAL(12,2),
    intake_condition VARCHAR,
    notes VARCHAR,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (cert_lab, cert_number)
);

CREATE SEQUENCE inventory_ledger_id_seq START 1;
CREATE TABLE inventory_ledger (
    id BIGINT PRIMARY KEY DEFAULT nextval('inventory_ledger_id_seq'),
    item_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,            -- receive reserve release issue return consume loss
                                      -- transfer adjust count give_back
    location_id BIGINT,               -- the stock location whose on-hand changed
    to_location_id BIGINT,            -- issue: the bench or vendor it went to
    job_id BIGINT,
    on_hand_change DECIMAL(10,3) NOT NULL DEFAULT 0,
    reserved_change DECIMAL(10,3) NOT NULL DEFAULT 0,
    issued_change DECIMAL(10,3) NOT NULL DEFAULT 0,
    unit_cost DECIMAL(12,2),
    reason VARCHAR,
    count_id BIGINT,
    actor VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- The ledger summed per item and bucket (no semicolons in these comments: the migration is
-- split on them). A stock row per stock location (job_id 0) holds on hand there, a job row
-- per job (location_id 0) what that job reserved and has at the bench (dropped when back to
-- zero), and each item has a zero row (0, 0) from its creation. Item totals are the view.
CREATE TABLE inventory_balances (
    item_id BIGINT NOT NULL,
    location_id BIGINT NOT NULL DEFAULT 0,
    job_id BIGINT NOT NULL DEFAULT 0,
    on_hand DECIMAL(10,3) NOT NULL DEFAULT 0,
    reserved DECIMAL(10,3) NOT NULL DEFAULT 0,
    issued DECIMAL(10,3) NOT NULL DEFAULT 0,
    PRIMARY KEY (item_id, location_id, job_id),
    CHECK (on_hand >= 0 AND reserved >= 0 AND issued >= 0)
);
CREATE VIEW inventory_item_totals AS
    SELECT item_id, sum(on_hand) AS on_hand, sum(reserved) AS reserved, sum(issued) AS issued
      FROM inventory_balances GROUP BY item_id;

CREATE SEQUENCE job_material_id_seq START 1;
CREATE TABLE job_materials (
    id BIGINT PRIMARY KEY DEFAULT nextval('job_material_id_seq'),
    job_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    quantity DECIMAL(10,3) NOT NULL,
    note VARCHAR,
    added_by VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (job_id, item_id)
);

CREATE SEQUENCE job_metal_result_id_seq START 1;
CREATE TABLE job_metal_results (
    id BIGINT PRIMARY KEY DEFAULT nextval('job_metal_result_id_seq'),
    job_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    issued_g DECIMAL(10,3) NOT NULL,
    finished_g DECIMAL(10,3) NOT NULL,
    returned_g DECIMAL(10,3) NOT NULL,
    loss_g DECIMAL(10,3) NOT NULL,
    loss_pct DECIMAL(6,2) NOT NULL,
    norm_pct DECIMAL(6,2) NOT NULL,
    recorded_by VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

CREATE SEQUENCE inventory_count_id_seq START 1;
CREATE TABLE inventory_counts (
    id BIGINT PRIMARY KEY DEFAULT nextval('inventory_count_id_seq'),
    location_id BIGINT,
    category VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'open',   -- open | posted
    started_by VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    posted_by VARCHAR,
    posted_at TIMESTAMPTZ,
    reason VARCHAR,
    lines INTEGER,
    matched INTEGER
);
CREATE SEQUENCE inventory_count_line_id_seq START 1;
CREATE TABLE inventory_count_lines (
    id BIGINT PRIMARY KEY DEFAULT nextval('inventory_count_line_id_seq'),
    count_id BIGINT NOT NULL,
    item_id BIGINT NOT NULL,
    location_id BIGINT,
    expected DECIMAL(10,3) NOT NULL,
    counted DECIMAL(10,3) NOT NULL,
    matched BOOLEAN,
    counted_by VARCHAR NOT NULL,
    counted_at TIMESTAMPTZ NOT NULL,
    UNIQUE (count_id, item_id)
);
"""

# Customer notifications (issue 4): what the dispatcher needs on each outbox row (the rendered
# message, its recipients, retries, the claim that keeps two dispatchers from sending it twice,
# the provider's message id), the shop's edited message templates (the defaults live in
# workflow/notifications.py), and the customer's opt-out. Per-stage switches are `settings` rows
# (`notify.stage.<stage>` = auto | hold | off). ADD COLUMN only: DuckDB can't add a column with a
# UNIQUE or PRIMARY KEY constraint to an existing table.
_V3 = """
ALTER TABLE notification_outbox ADD COLUMN recipient_email VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN recipient_phone VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN subject VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN body_text VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN body_html VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN body_sms VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN note VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN due_since TIMESTAMPTZ;
ALTER TABLE notification_outbox ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE notification_outbox ADD COLUMN attempts_at_retry INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN claimed_by VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN claimed_until TIMESTAMPTZ;
ALTER TABLE notification_outbox ADD COLUMN sent_via VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN provider VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN provider_message_id VARCHAR;
ALTER TABLE notification_outbox ADD COLUMN updated_at TIMESTAMPTZ;

CREATE SEQUENCE message_template_id_seq START 1;
CREATE TABLE message_templates (
    id BIGINT PRIMARY KEY DEFAULT nextval('message_template_id_seq'),
    stage VARCHAR NOT NULL UNIQUE,
    subject VARCHAR NOT NULL,
    body_text VARCHAR NOT NULL,
    body_html VARCHAR NOT NULL,
    body_sms VARCHAR NOT NULL,
    updated_by VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE customers ADD COLUMN notifications_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN opted_out_at TIMESTAMPTZ;
"""

# DuckDB keeps an ART index per secondary index and updates it row by row on insert: on a
# 100k-row import these two cost more than they save, since a job's timeline is read with a
# columnar scan (zone maps) in milliseconds. Measured with bench/import_bench.py.
_V4 = """
DROP INDEX IF EXISTS history_job_idx;
DROP INDEX IF EXISTS audit_entity_idx;
DROP INDEX IF EXISTS jobs_order_idx;
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "jobs, orders, customers, staff, history, audit, outbox, designs, QC", _V1),
    (2, "inventory: items, locations, ledger, balances, job materials, metal results, counts",
     _V2),
    (3, "customer notifications: outbox delivery columns, message templates, opt-out", _V3),
    (4, "drop secondary indexes on history and audit (bulk import cost; scans are fast)", _V4),
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
    current_version(con)  # creates schema_version on a new file
    # By number, not "above the highest": a file made while a lower number was still missing
    # from the list (2 landed after 3) gets it too.
    done = {int(v) for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}
    for number, description, script in MIGRATIONS:
        if number in done:
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
