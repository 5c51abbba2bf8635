"""A stand-in for Google Colab's ``google.colab``, for tests only: Colab cannot run here.

A kernel started with tests/fake_colab on PYTHONPATH believes it runs in Colab. Drive: mount()
makes ``MOUNT_POINT/MyDrive`` (the spelling today's Colab uses) point at $FAKE_DRIVE. Secrets:
$FAKE_COLAB_SECRET_STATE is "missing" (SecretNotFoundError, the default), "no-access"
(NotebookAccessError) or "set:VALUE". Output: the in-notebook view prints the port it shows.
"""
