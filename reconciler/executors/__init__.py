"""Step executors: the only package that starts subprocesses (ARCHITECTURE §3 rule 3)."""
