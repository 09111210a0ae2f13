-- Append-only, hash-chained audit log: hash = sha256(prev_hash || canonical JSON of the row).
-- `soma audit verify` walks the chain in seq order. UPDATE and DELETE are refused.
CREATE TABLE IF NOT EXISTS audit_log (
    seq             bigserial PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,
    occurred_at     timestamptz NOT NULL,
    actor           text NOT NULL,
    tenant_id       text NOT NULL,
    action          text NOT NULL,
    subject_id      text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    verdict_before  jsonb,
    verdict_after   jsonb,
    prev_hash       text NOT NULL,
    hash            text NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject_id);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
