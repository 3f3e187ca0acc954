"""Placeholder; filled by the project issue."""
