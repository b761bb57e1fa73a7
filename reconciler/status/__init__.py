"""Status: the per-app status document and its write-back to Git."""
