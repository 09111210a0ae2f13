-- A profile may name the environment variable that holds its endpoint's API key
-- (sent as a bearer token by the caller); the key itself is never stored.
ALTER TABLE model_profiles ADD COLUMN IF NOT EXISTS api_key_env text
    CHECK (api_key_env ~ '^[A-Z_][A-Z0-9_]{0,127}$');
