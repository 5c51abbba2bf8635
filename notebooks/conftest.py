"""nbval's sanitizer file is named in pyproject.toml relative to the repository's root; this
makes ``pytest --nbval notebooks/`` work from any directory (nbval reads it from the current one)."""

import os


def pytest_configure(config):
    sanitize = getattr(config.option, "nbval_sanitize_with", None)
    if sanitize and not os.path.isabs(sanitize) and not os.path.exists(sanitize):
        config.option.nbval_sanitize_with = str(config.rootpath / sanitize)
