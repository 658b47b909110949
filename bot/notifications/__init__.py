"""Outbound messages: the outbox, the send-once ledger, the notifier."""
