-- Tool executor: one row per tool request, claimed in a transaction before the tool runs,
-- so a redelivered request is never executed twice (its stored result is re-published).
CREATE TABLE IF NOT EXISTS tool_executions (
    tenant_id    text NOT NULL,
    request_id   text NOT NULL,
    session_id   text NOT NULL,
    tool         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'done')),
    owner        text NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz NOT NULL,
    finished_at  timestamptz,
    result       jsonb,
    PRIMARY KEY (tenant_id, request_id),
    CHECK ((status = 'done') = (result IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS tool_executions_running ON tool_executions (lease_until)
    WHERE status = 'running';

-- File contents, stored once by content hash.
CREATE TABLE IF NOT EXISTS attachments (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(content) = size)
);

-- Named references to contents: what a tool produced or a user attached, per tenant+session.
CREATE TABLE IF NOT EXISTS attachment_refs (
    attachment_id  text PRIMARY KEY,
    tenant_id      text NOT NULL,
    session_id     text NOT NULL,
    name           text NOT NULL,
    media_type     text NOT NULL,
    sha256         text NOT NULL REFERENCES attachments (sha256),
    size           bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS attachment_refs_session ON attachment_refs (tenant_id, session_id);
