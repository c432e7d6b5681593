"""Admin operations without HTTP: each takes a database session and the acting person's id,
checks its rules, writes rows and audit events in the caller's transaction (the caller
commits)."""
