"""guahao services (floor 2): configuration, storage (Redis), identity, schedule, booking, notifications.

Floors (see README, architecture): ``rules`` = ``texts`` < ``bot`` < ``dialogs`` < ``adapters`` < ``app``.
Modules here import ``rules`` and each other, never ``dialogs``, ``adapters`` or ``app``.
"""
