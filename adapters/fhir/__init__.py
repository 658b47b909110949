"""The FHIR R4 read facade (SPEC §7): Schedule, Slot and Appointment as searchset Bundles, for a staff token."""
