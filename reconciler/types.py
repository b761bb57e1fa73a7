"""Identifier types shared by every layer (``NewType`` so mypy keeps them apart)."""

from __future__ import annotations

from typing import NewType

ResourceUid = NewType("ResourceUid", str)
"""``<type>.<class>#<app>.<resource>`` or ``<type>.<class>#<id>`` (ARCHITECTURE §5.4)."""

AppName = NewType("AppName", str)
"""A Score workload's ``metadata.name``, unique across all app repositories."""

CommitSha = NewType("CommitSha", str)
"""A full 40-character Git object name."""
