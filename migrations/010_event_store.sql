-- Event store: append-only events with a per-session sequence and a global position,
-- and the sessions table maintained in the same transaction as each append.
CREATE TABLE IF NOT EXISTS sessions (
    session_id  text PRIMARY KEY,
    tenant_id   text NOT NULL,
    persona_id  text NOT NULL,
    title       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seq    bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sessions_tenant_recent
    ON sessions (tenant_id, updated_at DESC, session_id DESC);

CREATE TABLE IF NOT EXISTS events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL UNIQUE,
    session_id      text NOT NULL REFERENCES sessions (session_id),
    seq             bigint NOT NULL CHECK (seq >= 1),
    type            text NOT NULL,
    schema_version  int NOT NULL,
    tenant_id       text NOT NULL,
    correlation_id  text,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- the envelope exactly as written (json keeps the text: offsets, key order, \u0000)
    body            json NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX IF NOT EXISTS events_session_type ON events (session_id, type, seq);

CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER IF EXISTS events_append_only ON events;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

-- Snapshots of a session's replayed state every N turns, so long sessions rehydrate
-- from the newest snapshot plus the events after it.
CREATE TABLE IF NOT EXISTS session_snapshots (
    session_id  text NOT NULL REFERENCES sessions (session_id),
    seq         bigint NOT NULL,
    state       json NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, seq)
);
