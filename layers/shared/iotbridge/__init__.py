"""Code shared by every function of the bridge: wire models, settings, AWS clients, error taxonomy."""
