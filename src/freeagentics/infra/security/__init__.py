"""Security adapters: signing keys, JWT codec, Argon2id, revocation, rate limiting, IP blocks, audit."""
