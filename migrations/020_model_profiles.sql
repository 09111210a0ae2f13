-- Model profiles: one OpenAI-compatible endpoint + model + parameters each, with a
-- fallback chain (profile names tried in order) and per-tenant overrides per role.
CREATE TABLE IF NOT EXISTS model_profiles (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    role        text NOT NULL CHECK (role IN ('slm', 'dialogue', 'summarizer', 'embedding')),
    base_url    text NOT NULL,
    model       text NOT NULL,
    parameters  jsonb NOT NULL DEFAULT '{}'::jsonb,
    fallback    text[] NOT NULL DEFAULT '{}',
    is_default  boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- at most one default profile per role
CREATE UNIQUE INDEX IF NOT EXISTS model_profiles_one_default
    ON model_profiles (role) WHERE is_default;

CREATE TABLE IF NOT EXISTS model_profile_overrides (
    tenant_id   text NOT NULL,
    role        text NOT NULL CHECK (role IN ('slm', 'dialogue', 'summarizer', 'embedding')),
    profile     text NOT NULL REFERENCES model_profiles (name) ON DELETE CASCADE,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, role)
);
