"""Notifications: what is sent for alert instances, to which channels, and how."""
