"""The composition roots: where settings become running parts.

``runtime`` wires the daemon and the one-shot pass, ``catalog`` the provider sources into one
verified provider set, ``review`` what ``innominatus plan`` compares, ``testbed`` the throwaway
installation ``providers test`` runs in. Everything below this package takes its collaborators
as arguments; only this package (and the CLI above it) decides which ones.
"""
