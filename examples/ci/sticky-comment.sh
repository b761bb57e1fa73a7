#!/bin/sh
# Post an `innominatus plan --format markdown --output-dir DIR` as ONE sticky pull-request
# comment, updated in place on every push (POSIX sh).
#
#   sticky-comment.sh github DIR/plan-*.md   needs gh with GH_TOKEN, GITHUB_REPOSITORY, PR_NUMBER
#   sticky-comment.sh gitlab DIR/plan-*.md   needs curl, python3, GITLAB_TOKEN (a project or bot
#                                            token with the api scope), CI_API_V4_URL,
#                                            CI_PROJECT_ID, CI_MERGE_REQUEST_IID
#
# The plan's comments are found by the hidden marker on their first line. A plan longer than
# one comment (65,536 characters on GitHub) comes in parts plan-1.md, plan-2.md, ...: the
# existing plan comments are updated in order (oldest first), missing ones created, and the
# ones a shorter plan no longer needs deleted. The GitLab token reaches curl on stdin, never
# on its command line.
set -eu

MARKER='<!-- innominatus-plan -->'

usage() {
  echo "usage: $0 github|gitlab PART_FILE..." >&2
  exit 2
}

github_list() {
  gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
    --jq ".[] | select(.body | startswith(\"$MARKER\")) | .id"
}
github_create() {
  gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" -F "body=@$1" >/dev/null
}
github_update() {
  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$1" -F "body=@$2" >/dev/null
}
github_delete() {
  gh api --method DELETE "repos/$GITHUB_REPOSITORY/issues/comments/$1" >/dev/null
}

gitlab_api() { # METHOD PATH [CURL_ARGS...]
  method=$1 path=$2
  shift 2
  printf 'header = "PRIVATE-TOKEN: %s"\n' "$GITLAB_TOKEN" |
    curl --silent --show-error --fail --config - --request "$method" "$CI_API_V4_URL/$path" "$@"
}
gitlab_notes() {
  echo "projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
}
gitlab_list() {
  page=1
  while :; do
    found=$(gitlab_api GET "$(gitlab_notes)?per_page=100&page=$page" | python3 -c '
import json, sys
notes = json.load(sys.stdin)
for note in notes:
    if note.get("body", "").startswith(sys.argv[1]):
        print(note["id"])
if len(notes) == 100:
    print("next")
' "$MARKER")
    printf '%s\n' "$found" | grep -v '^next$' || true
    case "$found" in *next) page=$((page + 1)) ;; *) break ;; esac
  done
}
gitlab_create() { gitlab_api POST "$(gitlab_notes)" --data-urlencode "body@$1" >/dev/null; }
gitlab_update() { gitlab_api PUT "$(gitlab_notes)/$1" --data-urlencode "body@$2" >/dev/null; }
gitlab_delete() { gitlab_api DELETE "$(gitlab_notes)/$1" >/dev/null; }

[ $# -ge 2 ] || usage
forge=$1
shift
case "$forge" in github | gitlab) ;; *) usage ;; esac
for part in "$@"; do
  if [ ! -f "$part" ]; then
    echo "$0: no plan part $part: did innominatus plan fail before writing it?" >&2
    exit 1
  fi
done

# Listed first on its own, so a failing listing stops the script (sh has no pipefail) instead
# of looking like "no comment yet" and adding a second one.
listed=$("${forge}_list")
existing=$(printf '%s\n' "$listed" | sort -n)
count=0
for part in "$@"; do
  count=$((count + 1))
  id=$(printf '%s\n' "$existing" | sed -n "${count}p")
  if [ -n "$id" ]; then
    "${forge}_update" "$id" "$part"
  else
    "${forge}_create" "$part"
  fi
done
printf '%s\n' "$existing" | sed -n "$((count + 1)),\$p" | while read -r id; do
  [ -z "$id" ] || "${forge}_delete" "$id"
done
