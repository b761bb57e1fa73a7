"""Status: the per-app status document, its write-back to Git and the self-healing branch."""
