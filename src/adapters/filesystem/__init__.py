"""The filesystem adapter: device configs as files in one shared directory."""

from adapters.filesystem.repository import FilesystemDeviceConfigRepository

__all__ = ["FilesystemDeviceConfigRepository"]
