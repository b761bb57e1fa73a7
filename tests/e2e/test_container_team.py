"""The corpus ``container-team`` provider (every file verbatim) run by the in-process daemon:
an ``argocd-app`` resource's Application and a ``namespace`` resource's manifests land in a
GitOps repository (a bare repository in ``tmp_path``, the target given once with
``step_defaults``), an update rewrites the Application keeping what the update workflow leaves
out, and removing the resources removes their files. The corpus' ``policy`` steps that ask a
cluster (``kubectl wait``/``get``) tolerate its absence, as they were written to."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.e2e.conftest import make_story
from tests.e2e.daemons import API, daemon, resource_states, wait_for
from tests.gitutil import commit_files, git, make_repo, push

APP = "apps/shop/score.yaml"
APPLICATION = "clusters/dev/argocd/application-shop.yaml"


def _files(bare: Path) -> dict[str, str]:
    """The files of ``main`` at one commit (the daemon may push while they are read)."""
    sha = git(bare, "rev-parse", "main").strip()
    names = git(bare, "ls-tree", "-r", "--name-only", sha).splitlines()
    return {name: git(bare, "show", f"{sha}:{name}") for name in names}


def _score(resources: str) -> str:
    return (
        "apiVersion: score.dev/v1b1\nmetadata: {name: shop}\n"
        "containers: {web: {image: shop:1}}\n" + resources
    )


def _resources(path: str | None, *, tools: bool = True) -> str:
    text = "resources:\n  ns:\n    type: namespace\n    params: {namespace_name: shop}\n"
    if path is not None:
        text += (
            "  deploy:\n    type: argocd-app\n    params: {namespace: shop, "
            f"repo_url: 'https://git.example.test/platform/shop.git', path: {path}}}\n"
        )
    if tools:
        text += "  tools:\n    type: namespace\n    params: {namespace_name: shop-tools}\n"
    return text


NAMESPACE_FILES = [
    "clusters/dev/namespace-shop.yaml",
    "clusters/dev/shop/networkpolicy-default-deny-ingress.yaml",
    "clusters/dev/shop/resourcequota-resource-quota.yaml",
]
TOOLS_FILES = [
    "clusters/dev/namespace-shop-tools.yaml",
    "clusters/dev/shop-tools/networkpolicy-default-deny-ingress.yaml",
    "clusters/dev/shop-tools/resourcequota-resource-quota.yaml",
]


def test_container_team_workflows_run_against_a_gitops_repository(
    tmp_path: Path, shared: Path, database_url: str
) -> None:
    provider = tmp_path / "container-team"
    shutil.copytree(shared / "corpus" / "innominatus" / "providers" / "container-team", provider)
    work, gitops = make_repo(tmp_path, "gitops")
    commit_files(work, {"README.md": "cluster state\n"}, "init")
    push(work)
    story = make_story(tmp_path, database_url)
    text = story.config.read_text().split("providers:")[0] + API
    text += f"providers:\n  - {{name: container-team, type: filesystem, path: {provider}}}\n"
    text += (
        "step_defaults:\n"
        f"  kubernetes: {{url: {gitops}, path: clusters/dev}}\n"
        f"  argocd-app: {{url: {gitops}, gitops_path: clusters/dev}}\n"
        "  gitea-repo: {token_env: GITEA_TOKEN}\n"
    )
    story.config.write_text(text)
    story.commit({APP: _score(_resources("manifests"))}, "shop")

    with daemon(story) as (_, url):
        active = {"deploy": "active", "ns": "active", "tools": "active"}
        wait_for(lambda: resource_states(url) == active, timeout=90)
        files = _files(gitops)
        assert sorted(files) == sorted(["README.md", APPLICATION, *NAMESPACE_FILES, *TOOLS_FILES])
        application = yaml.safe_load(files[APPLICATION])
        assert application["apiVersion"] == "argoproj.io/v1alpha1"
        assert application["metadata"]["name"] == "shop"
        assert application["spec"]["source"] == {
            "repoURL": "https://git.example.test/platform/shop.git",
            "path": "manifests",
            "targetRevision": "HEAD",
        }
        assert application["spec"]["destination"]["namespace"] == "shop"
        assert application["spec"]["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}

        story.commit({APP: _score(_resources("manifests-v2"))}, "new path")
        wait_for(
            lambda: (
                yaml.safe_load(_files(gitops)[APPLICATION])["spec"]["source"]["path"]
                == "manifests-v2"
            ),
            timeout=120,
        )
        updated = yaml.safe_load(_files(gitops)[APPLICATION])
        assert updated["spec"]["syncPolicy"] == application["spec"]["syncPolicy"]
        assert updated["spec"]["source"]["targetRevision"] == "HEAD"

        # dropping every resource at once would be held for confirmation (invariant 2)
        story.commit({APP: _score(_resources(None, tools=False))}, "drop two")
        wait_for(lambda: sorted(_files(gitops)) == ["README.md", *NAMESPACE_FILES], timeout=90)
        wait_for(lambda: resource_states(url) == {"ns": "active"}, timeout=60)
