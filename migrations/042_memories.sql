-- Agent memory: what memory_save stored, with a unit-length sentence embedding (float4[];
-- pgvector is not installed here), recalled by cosine similarity (a dot product) in SQL.
CREATE TABLE IF NOT EXISTS memories (
    memory_id   text PRIMARY KEY,
    tenant_id   text NOT NULL,
    persona_id  text NOT NULL,
    namespace   text NOT NULL,
    key         text,
    content     text NOT NULL,
    embedding   float4[] NOT NULL CHECK (cardinality(embedding) > 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS memories_scope ON memories (tenant_id, persona_id, namespace, created_at);
