import os


class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


def get(name):
    state = os.environ.get("FAKE_COLAB_SECRET_STATE", "missing")
    if state == "no-access":
        raise NotebookAccessError(name)
    if state.startswith("set:"):
        return state[4:]
    raise SecretNotFoundError(name)
