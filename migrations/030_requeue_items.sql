-- Policy requeue: actions a gate blocked, waiting for an admin or a policy change.
-- PostgreSQL is the source of truth; Redis keeps an index of the pending ones.
CREATE TABLE IF NOT EXISTS requeue_items (
    id                 text PRIMARY KEY,
    tenant_id          text NOT NULL,
    persona_id         text NOT NULL,
    session_id         text NOT NULL,
    action             text NOT NULL,
    resource           text NOT NULL,
    request            jsonb NOT NULL,
    verdict            jsonb NOT NULL,
    target_topic       text,
    envelope           jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'released', 'denied', 'failed')),
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    resolved_by        text,
    resolution_reason  text
);
CREATE INDEX IF NOT EXISTS requeue_items_tenant_status ON requeue_items (tenant_id, status, created_at);
CREATE INDEX IF NOT EXISTS requeue_items_due ON requeue_items (next_attempt_at) WHERE status = 'pending';
