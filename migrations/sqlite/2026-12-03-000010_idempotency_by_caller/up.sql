-- A client's unexpired idempotency records in expiry order: the per-client cap reads at
-- most that many entries, and its oldest expiry is the Retry-After of a refused claim.
CREATE INDEX idempotency_keys_by_caller ON idempotency_keys (caller, expires_at);
