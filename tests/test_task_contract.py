"""The task contract (demo_app/tasks/contract.py): every task is five small facets, each with
its required methods and attributes checked when the task is registered."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo_app.tasks import TASKS, Task, TaskCheckpoints, TaskData, TaskInputs, TaskPage, TaskPipeline, check_task
from demo_app.tasks.classification import DOCUMENT_CLASSIFICATION

ROOT = Path(__file__).resolve().parent.parent
FACETS = ("inputs", "pipeline", "checkpoints", "page", "data")


def public_methods(cls) -> list:
    return [name for name, member in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_is_registered_with_five_checked_facets(name):
    task = TASKS[name]
    assert check_task(task) is task
    for facet in FACETS:
        assert len(public_methods(type(getattr(task, facet)))) <= 15, facet


def test_no_class_in_tasks_has_more_than_15_public_methods():
    import demo_app.tasks as package

    for path in Path(package.__file__).parent.glob("*.py"):
        module = __import__(f"demo_app.tasks.{path.stem}", fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                assert len(public_methods(cls)) <= 15, f"{cls.__name__}: {public_methods(cls)}"


def test_a_facet_missing_a_required_method_cannot_be_made():
    class NoPostprocess(TaskPipeline):
        def preprocess(self, tokenizer, items, max_seq_length):
            return {}

        def to_dict(self, result):
            return {}

        def inference_fn(self, predictor):
            return lambda text: {}

    with pytest.raises(TypeError, match="postprocess"):
        NoPostprocess()


def test_a_facet_missing_a_required_attribute_is_refused_at_registration():
    class NoRenderer(type(DOCUMENT_CLASSIFICATION.page)):
        renderer = ""

    broken = Task("broken", DOCUMENT_CLASSIFICATION.inputs, DOCUMENT_CLASSIFICATION.pipeline,
                  DOCUMENT_CLASSIFICATION.checkpoints, NoRenderer(), DOCUMENT_CLASSIFICATION.data)
    with pytest.raises(TypeError, match="renderer"):
        check_task(broken)


def test_a_facet_of_the_wrong_kind_is_refused_at_registration():
    broken = Task("broken", DOCUMENT_CLASSIFICATION.inputs, DOCUMENT_CLASSIFICATION.pipeline,
                  DOCUMENT_CLASSIFICATION.checkpoints, DOCUMENT_CLASSIFICATION.data, DOCUMENT_CLASSIFICATION.data)
    with pytest.raises(TypeError, match="page must be a TaskPage"):
        check_task(broken)


def test_each_facet_base_is_small():
    for base in (TaskInputs, TaskPipeline, TaskCheckpoints, TaskPage, TaskData):
        assert len(public_methods(base)) <= 15, base.__name__


def test_no_task_name_input_kind_or_head_name_is_compared_outside_tasks():
    """Task knowledge lives in tasks/: the rest of the package asks the facets."""
    names = "|".join(re.escape(name) for name in TASKS)
    heads = "classifier|qa_outputs|lm_head|pixel_values"
    pattern = (rf"(==|!=|\bin)\s*\(?\s*[\"']({names})[\"']|[\"']({names})[\"']\s*(==|!=)|input_kind"
               rf"|[\"']({heads})[\"']")
    found = subprocess.run(["git", "grep", "--untracked", "-nE", pattern, "--", "demo_app", ":!demo_app/tasks"],
                           cwd=ROOT, capture_output=True, text=True).stdout
    assert found == "", found


def test_importing_the_package_loads_no_heavy_library():
    """`import demo_app` stays cheap (a CLI's --help, a notebook's first cell): the public names load
    their modules at first use, and every name in __all__ resolves."""
    heavy = "('torch', 'transformers', 'flask', 'sqlalchemy', 'openvino')"
    probe = ("import sys, demo_app; "
             f"print(sorted(m for m in {heavy} if m in sys.modules)); "
             "missing = [n for n in demo_app.__all__ if getattr(demo_app, n, None) is None]; print(missing)")
    loaded, missing = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                     cwd=ROOT).stdout.splitlines()
    assert loaded == "[]"
    assert missing == "[]"
