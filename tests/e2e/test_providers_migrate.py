"""`innominatus providers migrate`: the original's kind: Platform manifest and goldenpaths.yaml
(the corpus examples) become a current provider whose golden path parameters are typed and
constrained in their workflow files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from reconciler.errors import PermanentError
from reconciler.executors.registry import default_registry
from reconciler.providers.provider import load_provider
from reconciler.providers.workflow import apply_parameters
from tests.e2e.conftest import Cli

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "innominatus"
EXAMPLES = CORPUS / "examples"
GOLDEN_PATHS = (
    "team-setup",
    "deploy-app",
    "undeploy-app",
    "ephemeral-env",
    "db-lifecycle",
    "observability-setup",
    "onboard-dev-team",
)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """The corpus' legacy platform folder, with a current-format workflow per golden path
    (the corpus does not ship those files; the original ran them from elsewhere)."""
    if not (EXAMPLES / "goldenpaths.yaml").is_file():
        pytest.skip(f"corpus not found at {EXAMPLES}; check out ../shared beside the repository")
    folder = tmp_path / "legacy"
    (folder / "workflows").mkdir(parents=True)
    shutil.copy(EXAMPLES / "platform.yaml", folder / "provider.yaml")
    shutil.copy(EXAMPLES / "goldenpaths.yaml", folder / "goldenpaths.yaml")
    for name in GOLDEN_PATHS:
        (folder / "workflows" / f"{name}.yaml").write_text(
            "apiVersion: innominatus.io/v1alpha1\n"
            "kind: Workflow\n"
            f"metadata: {{name: {name}}}\n"
            "steps:\n"
            "  - {name: run, type: shell, config: {command: [true]}}\n"
        )
    return folder


def test_a_legacy_platform_with_golden_paths_migrates_to_a_valid_provider(
    legacy: Path, tmp_path: Path, cli: Cli
) -> None:
    target = tmp_path / "migrated"

    result = cli("providers", "migrate", str(legacy), "--output", str(target))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "migrated and valid (7 workflows)" in result.stdout
    assert "provisioner gitea-repo was a program built into the Go original" in result.stdout
    manifest = yaml.safe_load((target / "provider.yaml").read_text())
    assert manifest["kind"] == "Provider"
    assert "provisioners" not in manifest
    assert "configuration" not in manifest
    entries = {entry["name"]: entry for entry in manifest["workflows"]}
    assert sorted(entries) == sorted(GOLDEN_PATHS)
    assert entries["deploy-app"]["category"] == "goldenpath"
    assert "category:deployment" in entries["deploy-app"]["tags"]
    assert not (target / "goldenpaths.yaml").exists()
    assert (legacy / "goldenpaths.yaml").exists(), "the source folder is left untouched"


def test_migrated_golden_path_parameters_keep_their_types_defaults_and_constraints(
    legacy: Path, tmp_path: Path, cli: Cli
) -> None:
    target = tmp_path / "migrated"
    assert cli("providers", "migrate", str(legacy), "-o", str(target)).returncode == 0
    provider = load_provider(target, known_step_types=default_registry().known_types())

    ephemeral = provider.workflows["ephemeral-env"]
    bound = apply_parameters(ephemeral, {})
    assert bound == {"ttl": "2h", "environment_type": "preview", "replicas": 1}
    assert apply_parameters(ephemeral, {"replicas": "3", "ttl": "3d"})["replicas"] == 3
    with pytest.raises(PermanentError) as caught:
        apply_parameters(ephemeral, {"replicas": 11, "ttl": "forever", "environment_type": "x"})
    message = str(caught.value)
    assert "parameter 'replicas' must be at most 10, got 11" in message
    assert "parameter 'ttl' must match '^\\\\d+[hmd]$', got 'forever'" in message
    assert "parameter 'environment_type' must be one of preview, staging, development" in message

    onboarding = provider.workflows["onboard-dev-team"]
    with pytest.raises(PermanentError, match="required parameter 'input_app_name' is missing"):
        apply_parameters(onboarding, {})
    assert apply_parameters(onboarding, {"input_app_name": "shop"})["enable_backup"] is False


def test_golden_path_parameters_named_like_engine_parameters_are_renamed_with_their_references(
    legacy: Path, tmp_path: Path, cli: Cli
) -> None:
    (legacy / "workflows" / "onboard-dev-team.yaml").write_text(
        "apiVersion: innominatus.io/v1alpha1\n"
        "kind: Workflow\n"
        "metadata: {name: onboard-dev-team}\n"
        "steps:\n"
        "  - name: app_name\n"
        "    type: shell\n"
        "    config:\n"
        "      script: 'echo $PARAM_APP_NAME {{ .parameters.app_name }} $PARAM_APP_NAMES'\n"
    )
    target = tmp_path / "migrated"

    result = cli("providers", "migrate", str(legacy), "-o", str(target))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "parameter app_name is set by innominatus for every run" in result.stdout
    assert "so it was renamed input_app_name" in result.stdout
    workflow = yaml.safe_load((target / "workflows" / "onboard-dev-team.yaml").read_text())
    script = workflow["steps"][0]["config"]["script"]
    assert script == "echo $PARAM_INPUT_APP_NAME {{ .parameters.input_app_name }} $PARAM_APP_NAMES"
    assert workflow["steps"][0]["name"] == "app_name", "a step of that name is not a parameter"
    declared = [p["name"] for p in workflow["parameters"]]
    assert "input_app_name" in declared
    assert "app_name" not in declared


def test_a_golden_path_whose_workflow_file_is_missing_is_named_and_the_result_refused(
    legacy: Path, tmp_path: Path, cli: Cli
) -> None:
    (legacy / "workflows" / "deploy-app.yaml").unlink()

    result = cli("providers", "migrate", str(legacy), "-o", str(tmp_path / "out"))

    assert result.returncode == 1
    assert (
        "workflow file ./workflows/deploy-app.yaml does not exist; create it with these "
        "parameters: sync_policy, namespace_prefix" in result.stdout
    )
    assert "provider.yaml:" in result.stderr
    assert "deploy-app.yaml not found" in result.stderr


def test_an_unmigrated_folder_with_goldenpaths_yaml_is_refused_with_the_migrate_command(
    legacy: Path, cli: Cli
) -> None:
    result = cli("providers", "validate", str(legacy))

    assert result.returncode == 1
    assert "legacy provisioners: name programs built into the Go original" in result.stderr


def test_migrate_refuses_a_non_empty_output_folder(legacy: Path, tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")

    result = cli("providers", "migrate", str(legacy), "-o", str(target))

    assert result.returncode == 1
    assert "is not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
