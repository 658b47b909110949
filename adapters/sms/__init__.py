"""The SMS channel: the inbound webhook and the Twilio sender."""
