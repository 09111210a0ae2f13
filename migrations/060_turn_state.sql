-- Turns in progress: the durable state a turn needs to resume on any worker
-- (after a tool result, a policy release or a restart).
CREATE TABLE IF NOT EXISTS turn_state (
    correlation_id       text PRIMARY KEY,
    session_id           text NOT NULL,
    tenant_id            text NOT NULL,
    inbound_event_id     text NOT NULL UNIQUE,
    status               text NOT NULL CHECK (status IN
                           ('running', 'awaiting_tool', 'awaiting_policy', 'completed', 'failed')),
    attempt              int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    processing_event_id  text,
    awaiting_request_id  text,
    deadline             timestamptz,
    data                 jsonb NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS turn_state_waiting
    ON turn_state (deadline) WHERE status IN ('awaiting_tool', 'awaiting_policy');
CREATE INDEX IF NOT EXISTS turn_state_session ON turn_state (session_id, created_at);
