"""Why an entry of the configs directory is not a usable config: facts about files, which the
domain sees only as the label (`CorruptDeviceConfig.problem`, `SkippedFile.problem`)."""

from __future__ import annotations

import enum


class FileProblem(enum.StrEnum):
    """The value is a stable label for metrics (`iot_config_files_skipped{reason}`)."""

    BAD_NAME = "bad_name"
    EMPTY = "empty"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    TOO_DEEP = "too_deep"
    TOO_LARGE = "too_large"
    SYMLINK = "symlink"
    NOT_A_FILE = "not_a_file"
    UNREADABLE = "unreadable"
