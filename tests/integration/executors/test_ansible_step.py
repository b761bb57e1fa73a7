"""The ansible step with the real ``ansible-playbook`` (ansible-core from PyPI): a playbook
from the provider folder against ``localhost``, parameters as extra vars from a file, outputs
through the step contract's outputs file, create / update / delete of what it manages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.ansible import AnsibleExecutor, extra_vars
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import ansible_binary, run

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_tasks: tasks/{{ operation }}.yml
"""
APPLY = """\
- name: the managed file holds the size
  ansible.builtin.copy:
    content: "{{ size }}\\n"
    dest: "{{ lookup('env', 'INNOMINATUS_STATE_DIR') }}/managed.txt"
- name: outputs
  ansible.builtin.copy:
    content: "{{ {'size': size, 'path': 'managed.txt', 'team': team | default('none')} | to_json }}"
    dest: "{{ lookup('env', 'INNOMINATUS_OUTPUTS') }}"
"""
DELETE = """\
- ansible.builtin.file:
    path: "{{ lookup('env', 'INNOMINATUS_STATE_DIR') }}/managed.txt"
    state: absent
"""


@pytest.fixture
def executor() -> AnsibleExecutor:
    return AnsibleExecutor(ansible_playbook=ansible_binary())


@pytest.fixture
def playbook(provider_dir: Path) -> Path:
    folder = provider_dir / "ansible"
    (folder / "tasks").mkdir(parents=True)
    (folder / "site.yml").write_text(PLAYBOOK)
    for name in ("create", "update"):
        (folder / "tasks" / f"{name}.yml").write_text(APPLY)
    (folder / "tasks" / "delete.yml").write_text(DELETE)
    return folder / "site.yml"


def params(operation: str, **values: Any) -> dict[str, Any]:
    return {"operation": operation, "size": "small", **values}


def test_create_update_delete_of_what_the_playbook_manages(
    executor: AnsibleExecutor, playbook: Path, make_request: MakeRequest, tmp_path: Path
) -> None:
    managed = tmp_path / "state" / "managed.txt"
    config = {"playbook": "ansible/site.yml"}

    created = run(executor, make_request("ansible", config, params=params("create")))
    assert created.status == "succeeded", created.error
    assert created.outputs == {"size": "small", "path": "managed.txt", "team": "none"}
    assert managed.read_text() == "small\n"

    updated = run(
        executor,
        make_request("ansible", config, operation="update", params=params("update", size="big")),
    )
    assert updated.status == "succeeded", updated.error
    assert updated.outputs["size"] == "big"
    assert managed.read_text() == "big\n"

    deleted = run(
        executor, make_request("ansible", config, operation="delete", params=params("delete"))
    )
    assert deleted.status == "succeeded", deleted.error
    assert not managed.exists()


def test_config_variables_are_laid_over_the_parameters(
    executor: AnsibleExecutor, playbook: Path, make_request: MakeRequest
) -> None:
    config = {"playbook": "ansible/site.yml", "variables": {"team": "checkout", "size": "xl"}}
    result = run(executor, make_request("ansible", config, params=params("create")))
    assert result.outputs["team"] == "checkout"
    assert result.outputs["size"] == "xl"


def test_extra_vars_are_a_file_and_never_on_the_command_line(
    executor: AnsibleExecutor, playbook: Path, make_request: MakeRequest, tmp_path: Path
) -> None:
    request = make_request("ansible", {"playbook": "ansible/site.yml"}, params=params("create"))
    result = run(executor, request)
    assert result.status == "succeeded", result.error
    [vars_file] = request.workdir.glob("*/extra-vars.yml")
    assert vars_file.read_text() == extra_vars(params("create"))
    assert '!unsafe "small"' in vars_file.read_text()


def test_a_failing_task_fails_the_step_with_ansibles_message(
    executor: AnsibleExecutor, playbook: Path, make_request: MakeRequest
) -> None:
    (playbook.parent / "tasks" / "create.yml").write_text(
        "- ansible.builtin.fail:\n    msg: quota exceeded for team shop\n"
    )
    config = {"playbook": "ansible/site.yml"}
    result = run(executor, make_request("ansible", config, params=params("create")))
    assert result.status == "failed"
    assert result.exit_code == 2
    assert (result.error or "").startswith("ansible-playbook: exit code 2:")
    assert "quota exceeded for team shop" in (result.error or "")


def test_the_provider_folder_is_never_written(
    executor: AnsibleExecutor, playbook: Path, make_request: MakeRequest
) -> None:
    before = sorted(str(p) for p in playbook.parent.rglob("*"))
    config = {"playbook": "ansible/site.yml"}
    result = run(executor, make_request("ansible", config, params=params("create")))
    assert result.status == "succeeded", result.error
    assert sorted(str(p) for p in playbook.parent.rglob("*")) == before


def test_a_missing_playbook_is_named(executor: AnsibleExecutor, make_request: MakeRequest) -> None:
    result = run(executor, make_request("ansible", {"playbook": "ansible/nope.yml"}))
    assert result.status == "failed"
    assert "`config.playbook` 'ansible/nope.yml' is not a file" in (result.error or "")


def test_a_missing_ansible_playbook_binary_says_how_to_install_it(
    playbook: Path, make_request: MakeRequest, tmp_path: Path
) -> None:
    executor = AnsibleExecutor(ansible_playbook=str(tmp_path / "no-such-ansible-playbook"))
    result = run(executor, make_request("ansible", {"playbook": "ansible/site.yml"}))
    assert result.status == "failed"
    assert "cannot start" in (result.error or "")


def test_extra_vars_file_round_trips_structures_as_yaml() -> None:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
    values = {"list": ["a", 1, True, None], "nested": {"k": "v\nw"}, "n": 2.5}
    assert yaml.load(extra_vars(values), Loader=Loader) == values
    assert json.dumps(values)  # plain JSON data in, plain data out
