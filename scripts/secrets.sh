# Sourced by scripts/run: give the server a strong admin token and staff password without any typing.
# Each of CLINICQA_ADMIN_TOKEN and CLINICQA_STAFF_PASSWORD that the environment does not set is read from the
# secrets file (CLINICQA_SECRETS_FILE, default .secrets/clinicqa.env), which is made the first time with
# random values (secrets.token_urlsafe(32)) and mode 0600. Rotate: edit or delete the file and restart.
secrets_file="${CLINICQA_SECRETS_FILE:-.secrets/clinicqa.env}"
from_admin="${CLINICQA_STAFF_PASSWORD_FROM_ADMIN_TOKEN:-false}"
if [ -z "${CLINICQA_ADMIN_TOKEN:-}" ] || { [ -z "${CLINICQA_STAFF_PASSWORD:-}" ] && [ "$from_admin" != "true" ]; }; then
  if [ ! -f "$secrets_file" ]; then
    py=.venv/bin/python; [ -x "$py" ] || py=python3
    new_secret() { "$py" -c "import secrets; print(secrets.token_urlsafe(32))"; }
    mkdir -p "$(dirname "$secrets_file")"
    (
      umask 077
      {
        echo "# clinicqa secrets, made by scripts/run on $(date -u +%F). Keep private. Rotate: edit or delete, restart."
        echo "CLINICQA_ADMIN_TOKEN=$(new_secret)"
        echo "CLINICQA_STAFF_PASSWORD=$(new_secret)"
      } > "$secrets_file"
    )
    echo "scripts/run: made a random admin token and staff password in $secrets_file (readable by you only)." >&2
  fi
  chmod 600 "$secrets_file" 2>/dev/null || true
  while IFS='=' read -r key value; do
    case "$key" in
      CLINICQA_ADMIN_TOKEN) [ -n "${CLINICQA_ADMIN_TOKEN:-}" ] || export CLINICQA_ADMIN_TOKEN="$value" ;;
      CLINICQA_STAFF_PASSWORD)
        [ -n "${CLINICQA_STAFF_PASSWORD:-}" ] || [ "$from_admin" = "true" ] || export CLINICQA_STAFF_PASSWORD="$value" ;;
    esac
  done < "$secrets_file"
  echo "scripts/run: staff password and admin token from $secrets_file (show them: cat $secrets_file)" >&2
fi
