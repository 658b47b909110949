"""Calendar files of appointments: ``GET /calendar/<token>.ics`` (SPEC §7)."""
