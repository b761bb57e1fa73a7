# Shared by assign-hostname and release-hostname: the hostname of this resource, and the
# hosts file edit. Sourced by the steps' scripts; every value arrives in PARAM_* variables.
export LC_ALL=C
domain="$PARAM_DOMAIN"
case "$domain" in
  "" | .* | *. | *..* | *[!a-z0-9.-]*)
    echo "dns: domain '$domain' is not a lower-case DNS name such as apps.example.com;" \
      "fix the dns provider's domain parameter" >&2
    exit 1 ;;
esac
label=$(printf '%s-%s' "$INNOMINATUS_RESOURCE" "$INNOMINATUS_APP" | tr 'A-Z' 'a-z' \
  | tr -c 'a-z0-9' '-' | tr -s '-' | cut -c1-48 | sed 's/^-*//; s/-*$//')
hash=$(printf '%s' "$INNOMINATUS_RESOURCE_UID" | sha256sum | cut -c1-8)
host="${label:+$label-}$hash.$domain"
if [ "${#host}" -gt 253 ]; then
  echo "dns: $host is longer than 253 characters; configure a shorter domain" >&2
  exit 1
fi

# Rewrite the hosts file without this resource's line (and with `$1` appended, if given),
# under a lock, replacing it atomically so a DNS server never reads half a file.
edit_hosts_file() {
  file="$PARAM_HOSTS_FILE"
  [ -n "$file" ] || return 0
  touch "$file"
  (
    flock 9
    tmp="$file.innominatus.$$"
    trap 'rm -f "$tmp"' EXIT
    cp -p "$file" "$tmp"  # the new file keeps the old one's mode and owner
    awk -v uid="$INNOMINATUS_RESOURCE_UID" '!(NF >= 2 && $(NF-1) == "innominatus" && $NF == uid)' \
      "$file" > "$tmp"
    if [ -n "${1:-}" ]; then printf '%s\n' "$1" >> "$tmp"; fi
    mv "$tmp" "$file"
  ) 9> "$file.lock"
}
