"""Errors that mean the user's input is wrong, not the code.

The entry points catch these and print the message alone (no traceback), so each message must
name the file, line or config key at fault and say what would fix it.
"""


class UserInputError(Exception):
    """Bad user input: a config value, a missing or malformed file, an unusable checkpoint."""


class ConfigError(UserInputError):
    """An impossible or missing config value; the message names the key."""


class DataError(UserInputError):
    """A missing or malformed data file; the message names the file (and line if any)."""


class TrainingError(UserInputError):
    """Training cannot go on with these settings (e.g. the loss stays non-finite); the message
    says what was kept and which keys to change."""
