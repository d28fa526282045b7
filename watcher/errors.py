"""The service's own error: settings or a layout it cannot run with."""

from __future__ import annotations


class ServiceError(Exception):
    """The watch service cannot start or go on with these settings (layout, folders, options)."""
