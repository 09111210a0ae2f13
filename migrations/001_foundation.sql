-- Foundation: API keys (hashed at rest) mapping to a tenant and a role.
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash    text PRIMARY KEY,
    key_prefix  text NOT NULL,
    tenant_id   text NOT NULL,
    role        text NOT NULL CHECK (role IN ('user', 'admin')),
    subject     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
