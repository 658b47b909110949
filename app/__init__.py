"""The composition roots (floor 5): the only code that wires services, dialogs and adapters together."""
