"""`tgi-infra plan --program FILE.py`: a user's own Pulumi program under the same mocks.

The program runs as the Pulumi Python host would run it: as `__main__`, from its own
folder (on `sys.path`), with the stack file's config under the project's name (read from
the `Pulumi.yaml` beside it). Secret config values (`secure:`) become placeholders, so
`get_secret` answers and nothing real is read. Whatever stops the program (a
`ConfigInvalid` from a component, a `RunError`, a duplicate URN) becomes `ProgramFailed`.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tgi_infra.offline.plan import DuplicateUrn, OfflinePlan, run_offline
from tgi_infra.problems import ConfigInvalid, Problem

SECRET_PLACEHOLDER = "offline-plan-placeholder-secret"


class ProgramFailed(Exception):
    def __init__(self, message: str, problems: list[Problem] | None = None, *, usage: bool = False):
        super().__init__(message)
        self.message, self.problems, self.usage = message, problems or [], usage


def program_file(path: Path) -> Path:
    file = path / "__main__.py" if path.is_dir() else path
    if not file.is_file():
        raise ProgramFailed(
            f"{path}: no such program (a .py file, or a folder with __main__.py)", usage=True
        )
    return file


def project_name(folder: Path) -> str:
    """The `name:` of the Pulumi.yaml beside the program ("project" without one)."""
    for candidate in ("Pulumi.yaml", "Pulumi.yml"):
        try:
            project = yaml.safe_load((folder / candidate).read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(project, dict) and isinstance(project.get("name"), str):
            return project["name"]
    return "project"


def stack_name(stack_file: Path | None) -> str:
    if stack_file is None:
        return "dev"
    return stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    cwd, path = os.getcwd(), list(sys.path)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path


def plan_program(path: Path, stack_file: Path | None = None) -> OfflinePlan:
    from tgi_infra.config.loader import read_stack_file

    file = program_file(path).resolve()
    config: dict[str, Any] = read_stack_file(stack_file) if stack_file else {}
    secrets = {
        key: SECRET_PLACEHOLDER
        for key, value in config.items()
        if isinstance(value, dict) and "secure" in value
    }

    def program() -> None:
        runpy.run_path(str(file), run_name="__main__")

    try:
        with _in_folder(file.parent):
            return run_offline(
                program,
                config,
                stack=stack_name(stack_file),
                project=project_name(file.parent),
                secrets=secrets,
            )
    except ConfigInvalid as exc:
        raise ProgramFailed(
            f"{len(exc.problems)} problem(s) in the program's args", exc.problems
        ) from None
    except DuplicateUrn as exc:
        raise ProgramFailed(str(exc)) from None
    except Exception as exc:  # the user's program: its error is the answer, not a crash
        if os.environ.get("TGI_INFRA_DEBUG"):
            raise
        raise ProgramFailed(f"the program failed: {type(exc).__name__}: {exc}") from None
