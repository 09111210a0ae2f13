-- A session belongs to the user (the API key's subject) who created it: a `user` key sees
-- its own sessions and the ones their owners shared with the tenant (read only); a tenant
-- admin sees all of the tenant's. Sessions from before this migration, or appended without
-- an owner, have none and are seen by admins only.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS owner text
    CHECK (owner IS NULL OR length(owner) BETWEEN 1 AND 128);
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS shared boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS sessions_owner_recent
    ON sessions (tenant_id, owner, updated_at DESC, session_id DESC);
