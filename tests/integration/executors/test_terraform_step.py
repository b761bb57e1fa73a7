"""The terraform step with the real binary and only the built-in ``terraform_data`` resource
(no provider downloads): create, update and delete of one resource on one state file in the
resource's state dir, variables through a file, sensitive outputs secret and never logged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.executors.terraform import TerraformExecutor
from tests.integration.executors.conftest import MakeRequest
from tests.integration.executors.support import run, terraform_binary

MODULE = """
variable "size" {
  type = string
}
variable "labels" {
  type    = map(string)
  default = {}
}
resource "terraform_data" "bucket" {
  input = { size = var.size, labels = var.labels }
}
output "bucket_id" {
  value = terraform_data.bucket.id
}
output "size" {
  value = terraform_data.bucket.output.size
}
output "labels" {
  value = var.labels
}
output "access_key" {
  value     = "key-for-${var.size}"
  sensitive = true
}
"""


@pytest.fixture
def executor() -> TerraformExecutor:
    return TerraformExecutor(terraform=terraform_binary())


@pytest.fixture
def module(provider_dir: Path) -> Path:
    folder = provider_dir / "terraform" / "bucket"
    folder.mkdir(parents=True)
    (folder / "main.tf").write_text(MODULE)
    return folder


def config(**overrides: Any) -> dict[str, Any]:
    return {"working_dir": "terraform/bucket", "variables": {"size": "small"}, **overrides}


def resources(state_file: Path) -> list[dict[str, Any]]:
    state = json.loads(state_file.read_text())
    return [r for r in state["resources"] if r["mode"] == "managed"]


def test_create_update_delete_act_on_one_state_file(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest, tmp_path: Path
) -> None:
    state_file = tmp_path / "state" / "terraform" / "terraform-bucket.tfstate"

    created = run(executor, make_request("terraform", config()))
    assert created.status == "succeeded", created.error
    assert created.outputs["size"] == "small"
    [resource] = resources(state_file)
    assert resource["type"] == "terraform_data"
    bucket_id = created.outputs["bucket_id"]

    updated = run(
        executor,
        make_request(
            "terraform",
            config(variables={"size": "large", "labels": {"team": "shop"}}),
            operation="update",
        ),
    )
    assert updated.status == "succeeded", updated.error
    assert updated.outputs["size"] == "large"
    assert json.loads(updated.outputs["labels"]) == {"team": "shop"}
    assert updated.outputs["bucket_id"] == bucket_id  # updated in place, one resource
    assert "1 changed" in updated.log
    [resource] = resources(state_file)
    assert resource["instances"][0]["attributes"]["input"]["value"]["size"] == "large"

    deleted = run(
        executor,
        make_request("terraform", config(variables={"size": "large"}), operation="delete"),
    )
    assert deleted.status == "succeeded", deleted.error
    assert "1 destroyed" in deleted.log
    assert deleted.outputs == {}
    assert resources(state_file) == []


def test_sensitive_outputs_are_secret_outputs_and_never_logged(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    result = run(executor, make_request("terraform", config()))
    assert result.outputs["access_key"] == "key-for-small"
    assert result.secret_outputs == {"access_key"}
    assert "key-for-small" not in result.log


def test_variables_reach_terraform_through_a_file_never_the_command_line(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    result = run(executor, make_request("terraform", config()))
    commands = [line for line in result.log.splitlines() if line.startswith("$ terraform")]
    assert commands[0] == "$ terraform init -input=false -no-color"
    assert commands[1].startswith("$ terraform apply -input=false -no-color -auto-approve ")
    assert commands[1].endswith("innominatus.tfvars.json")
    assert commands[2] == "$ terraform output -json"
    assert not any(" -var " in line or "-var=" in line for line in commands)
    assert "small" not in "\n".join(commands)


def test_plan_says_whether_anything_would_change(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    planned = run(executor, make_request("terraform", config(operation="plan")))
    assert planned.outputs == {"changes": "true"}
    run(executor, make_request("terraform", config()))
    replanned = run(executor, make_request("terraform", config(operation="plan")))
    assert replanned.status == "succeeded", replanned.error
    assert replanned.outputs == {"changes": "false"}


def test_output_operation_reads_outputs_without_applying(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    run(executor, make_request("terraform", config()))
    result = run(
        executor,
        make_request("terraform", config(operation="output", outputs=["size"]), operation="update"),
    )
    assert result.status == "succeeded", result.error
    assert result.outputs == {"size": "small"}
    assert "$ terraform apply" not in result.log


def test_a_named_output_the_module_lacks_fails_the_step(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    result = run(executor, make_request("terraform", config(outputs=["size", "bucket_arn"])))
    assert result.status == "failed"
    assert "the module has no output bucket_arn" in (result.error or "")


def test_the_provider_folder_is_never_written(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    run(executor, make_request("terraform", config()))
    assert sorted(p.name for p in module.iterdir()) == ["main.tf"]


def test_a_terraform_error_fails_the_step_with_its_message(
    executor: TerraformExecutor, module: Path, make_request: MakeRequest
) -> None:
    (module / "broken.tf").write_text('resource "terraform_data" "x" {\n  nonsense = 1\n}\n')
    result = run(executor, make_request("terraform", config()))
    assert result.status == "failed"
    assert result.exit_code == 1
    assert (result.error or "").startswith("terraform apply: exit code 1:")
    assert 'An argument named "nonsense" is not expected here.' in (result.error or "")


def test_a_working_dir_outside_the_provider_folder_is_refused(
    executor: TerraformExecutor, make_request: MakeRequest
) -> None:
    result = run(executor, make_request("terraform", config(working_dir="../elsewhere")))
    assert result.status == "failed"
    assert "relative path inside its folder" in (result.error or "")
