-- The classify step's shared cache: one row per request hash.
-- A row whose value is NULL is a pending claim: one worker is asking the model and the others
-- wait for it until expires_at (the claim's lease) passes. created_at identifies the claim.
CREATE TABLE IF NOT EXISTS ingestlayer_classify_cache (
    key        text PRIMARY KEY,
    value      jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS ingestlayer_classify_cache_expires_at
    ON ingestlayer_classify_cache (expires_at);
