"""SSH: per-session key pairs, pinned host keys, readiness probes and file transfer."""
