"""The filesystem adapter: device configs as files in one shared directory."""

from adapters.filesystem.problems import FileProblem
from adapters.filesystem.repository import FilesystemDeviceConfigRepository

# Every label the listing may give a skipped entry (`SkippedFile.problem`).
SKIP_REASONS = tuple(problem.value for problem in FileProblem)

__all__ = ["SKIP_REASONS", "FilesystemDeviceConfigRepository"]
