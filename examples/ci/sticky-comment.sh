#!/bin/sh
# Create or update ONE sticky pull-request comment per plan part, found by its hidden marker
# ("<!-- innominatus-plan part N of M -->"); parts no longer needed are deleted.
#
#   sticky-comment.sh github PART_FILE...   # needs gh, GITHUB_REPOSITORY, PR_NUMBER
#   sticky-comment.sh gitlab PART_FILE...   # needs glab, CI_PROJECT_ID, CI_MERGE_REQUEST_IID
set -eu
forge=$1; shift
case "$forge" in
  github)
    list() { gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
               --jq '.[] | "\(.id) \(.body | split("\n")[1])"'; }
    create() { gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" -F "body=@$1" >/dev/null; }
    update() { gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$1" -F "body=@$2" >/dev/null; }
    remove() { gh api --method DELETE "repos/$GITHUB_REPOSITORY/issues/comments/$1" >/dev/null; }
    ;;
  gitlab)
    notes="projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
    list() { glab api --paginate "$notes" | python3 -c 'import json,sys
for n in json.load(sys.stdin): print(n["id"], (n["body"].split("\n") + [""])[1])'; }
    create() { glab api --method POST "$notes" -F "body=@$1" >/dev/null; }
    update() { glab api --method PUT "$notes/$1" -F "body=@$2" >/dev/null; }
    remove() { glab api --method DELETE "$notes/$1" >/dev/null; }
    ;;
  *) echo "usage: $0 github|gitlab PART_FILE..." >&2; exit 2 ;;
esac

existing=$(list | grep ' <!-- innominatus-plan part ' || true)
count=$#
number=0
for part in "$@"; do
  number=$((number + 1))
  id=$(printf '%s\n' "$existing" | grep " <!-- innominatus-plan part $number of " | head -n 1 | cut -d' ' -f1)
  if [ -n "$id" ]; then update "$id" "$part"; else create "$part"; fi
done
# Parts of an earlier, longer plan that this one no longer has.
printf '%s\n' "$existing" | while read -r id marker; do
  [ -n "$id" ] || continue
  n=$(printf '%s\n' "$marker" | sed -n 's/.*part \([0-9]*\) of.*/\1/p')
  if [ -n "$n" ] && [ "$n" -gt "$count" ]; then remove "$id"; fi
done
