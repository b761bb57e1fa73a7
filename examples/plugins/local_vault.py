#!/usr/bin/env python3
"""An example innominatus exec plugin (protocol innominatus.exec/v1): a toy secret store.

On create it keeps the resource's parameters in a JSON file in the resource's state dir and
generates a password once; update rewrites the parameters and keeps the password; delete
removes the file. Only the standard library, so it runs anywhere Python 3 does.

    steps:
      - name: vault-space
        type: exec
        config:
          command: ["./plugins/local_vault.py", "--length", "24"]
          namespace: "{{ .parameters.app_name }}"
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

PROTOCOL = "innominatus.exec/v1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stderr is the step log


def respond(outputs: dict, secret_outputs: dict, message: str, code: int = 0) -> int:
    json.dump(
        {
            "protocol": PROTOCOL,
            "outputs": outputs,
            "secret_outputs": secret_outputs,
            "message": message,
        },
        sys.stdout,
    )
    return code


def main() -> int:
    options = argparse.ArgumentParser()
    options.add_argument("--length", type=int, default=32)
    args = options.parse_args()
    request = json.load(sys.stdin)
    if request.get("protocol") != PROTOCOL:
        return respond({}, {}, f"this plugin speaks {PROTOCOL}, not {request.get('protocol')}", 2)
    config = request["step"]["config"]
    namespace = config.get("namespace") or request["resource"]["name"]
    store = Path(request["state_dir"]) / "local-vault.json"
    operation = request["operation"]
    log(f"local-vault: {operation} namespace {namespace!r} in {store}")
    if operation == "delete":
        store.unlink(missing_ok=True)
        return respond({}, {}, f"namespace {namespace} removed")
    previous = json.loads(store.read_text()) if store.exists() else {}
    password = previous.get("password") or secrets.token_urlsafe(args.length)[: args.length]
    store.write_text(
        json.dumps(
            {"namespace": namespace, "parameters": request["parameters"], "password": password}
        )
    )
    store.chmod(0o600)
    return respond(
        {"namespace": namespace, "path": f"secret/{namespace}"},
        {"password": password},
        f"namespace {namespace} {'updated' if previous else 'created'}",
    )


if __name__ == "__main__":
    sys.exit(main())
