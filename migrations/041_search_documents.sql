-- Local web_search corpus: documents with a generated full-text vector (title weighted A).
CREATE TABLE IF NOT EXISTS search_documents (
    url         text PRIMARY KEY,
    corpus      text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', title), 'A') ||
                    setweight(to_tsvector('english', body), 'B')) STORED,
    indexed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS search_documents_tsv ON search_documents USING gin (tsv);
