"""Small helpers for Google Colab that do nothing harmful anywhere else."""

from __future__ import annotations

import sys
from pathlib import Path

DRIVE_MOUNT_POINT = "/gdrive"  # nlpbook's tutorials use /gdrive/My Drive/...


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    if "google.colab" in sys.modules:
        return True
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def mount_drive(mount_point: str = DRIVE_MOUNT_POINT) -> bool:
    """Mount Google Drive at ``mount_point`` in Colab (safe to call again); returns True if
    mounted. Outside Colab it prints a note and returns False."""
    if not in_colab():
        print(f"Not in Colab: Google Drive is not mounted (checkpoints under {mount_point} "
              "will not be found; the bundled demo model is used when none is given).")
        return False
    if (Path(mount_point) / "MyDrive").exists() or (Path(mount_point) / "My Drive").exists():
        print(f"Google Drive is already mounted at {mount_point}.")
        return True
    from google.colab import drive

    drive.mount(mount_point)
    return True


def colab_secret(name: str):
    """A Colab secret (the key icon in Colab's sidebar), or None when unavailable.

    ``google.colab.userdata.get`` raises when the secret is missing, when the notebook was not
    granted access to it, and outside the Colab UI (e.g. when run by nbval); all mean "none".
    """
    if not in_colab():
        return None
    try:
        from google.colab import userdata

        return userdata.get(name) or None
    except Exception:  # noqa: BLE001 - SecretNotFoundError, NotebookAccessError, TimeoutException...
        return None


def colab_secret_problem(name: str) -> str:
    """Why the Colab secret ``name`` gave nothing, as a sentence with its fix."""
    try:
        from google.colab import userdata

        userdata.get(name)
    except Exception as error:  # noqa: BLE001 - told apart by the class Colab raises
        kind = type(error).__name__
        if kind == "NotebookAccessError":
            return (f"the Colab secret {name} exists but this notebook may not read it: turn on "
                    "'Notebook access' beside it (key icon in the sidebar), then run the cell again")
        if kind != "SecretNotFoundError":
            return f"the Colab secret {name} could not be read ({kind}); run the cell again"
    return (f"there is no Colab secret {name}: add one (key icon in the sidebar) holding your ngrok "
            "token, with 'Notebook access' on")


def show_in_notebook(port: int, height: int = 720) -> None:
    """Show the app running on ``port`` inside the notebook through Colab's port proxy."""
    from google.colab import output

    output.serve_kernel_port_as_iframe(port, height=str(height))
