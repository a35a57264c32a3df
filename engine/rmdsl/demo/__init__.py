"""`rmdsl demo`: the whole pipeline against the simulated gateway, with a scripted session."""
