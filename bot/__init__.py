"""guahao services: configuration, Redis runtime, identity, schedule, booking, notifications.

Layering (see ../shared/DESIGN.md): ``rules`` < ``bot`` services < ``dialogs`` < ``adapters`` < ``app``.
Modules here import ``rules`` and each other, never ``dialogs``, ``adapters`` or ``app``.
"""
