"""Configuration: every setting declared once (settings.py), parsed by parsers.py."""

from monitor.config.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    SettingSpec,
    load_settings,
)

__all__ = ["SETTINGS", "SettingSpec", "Settings", "SettingsError", "load_settings"]
