"""The result schema and the append-only store: the JSON Lines file is the source of truth."""
