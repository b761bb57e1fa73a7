#!/usr/bin/env bash
# Sets up and runs the quickstart from a fresh clone: a virtualenv with innominatus, a Git
# repository made from examples/quickstart/apps (only if there is none yet), then the daemon
# on config/quickstart.yaml. Prints the status URL. Ctrl-C stops it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$here/.work"
venv="$root/.venv"
if [ ! -x "$venv/bin/innominatus" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -e "$root"
fi
if [ ! -d "$work/apps/.git" ]; then
  mkdir -p "$work/apps"
  cp -R "$here/apps/." "$work/apps/"
  git -C "$work/apps" init --quiet -b main
  git -C "$work/apps" add -A
  git -C "$work/apps" -c user.name=quickstart -c user.email=quickstart@localhost \
    commit --quiet -m "quickstart: the shop app"
  echo "created the app repository $work/apps (edit apps/shop/score.yaml there and commit)"
fi
exec "$venv/bin/innominatus" run --config "$root/config/quickstart.yaml"
