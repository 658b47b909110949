"""Redis: every key, every Lua script, the runtime (embedded or remote)."""
