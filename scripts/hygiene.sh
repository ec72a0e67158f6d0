#!/usr/bin/env bash
# Static checks: cfn-lint and checkov over template.yaml, bandit over the code that ships or runs locally,
# pip-audit over the pinned dependencies. Runs every check, then fails if any failed.
#
#   scripts/hygiene.sh                 # all four
#   HYGIENE_CHECKS="bandit cfn" scripts/hygiene.sh
#
# checkov pins an old boto3, so it lives in its own environment (.venv-checkov, created on first use).
# bandit reports only findings that are not in .bandit-baseline.json (each one reviewed: docs/reliability.md).
# pip-audit needs a vulnerability service (PyPI's per-release JSON API or OSV); where neither answers, its
# --strict mode fails on the packages it could not audit rather than passing silently.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
checkov_venv="$root/.venv-checkov"
checks="${HYGIENE_CHECKS:-cfn checkov bandit audit}"
failed=()

run() {
    local name="$1"
    shift
    echo "== $name: $*"
    if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED"; failed+=("$name"); fi
}

dev_requirements() {
    # The dev dependency group of pyproject.toml as a requirements file.
    "$venv/bin/python" - <<'PY'
import tomllib
for spec in tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"]["dev"]:
    if isinstance(spec, str):
        print(spec)
PY
}

for check in $checks; do
    case "$check" in
    cfn)
        run cfn-lint "$venv/bin/cfn-lint" template.yaml
        ;;
    checkov)
        if [[ ! -x "$checkov_venv/bin/checkov" ]]; then
            "$venv/bin/python" -m venv "$checkov_venv" &&
                "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check "checkov==3.3.30"
        fi
        run checkov "$checkov_venv/bin/checkov" --file template.yaml --config-file .checkov.yaml --quiet
        ;;
    bandit)
        run bandit "$venv/bin/bandit" --quiet --recursive layers/shared/iotbridge functions local samples tools \
            --baseline .bandit-baseline.json
        ;;
    audit)
        requirements="$(mktemp)"
        dev_requirements >"$requirements"
        run pip-audit-layer "$venv/bin/pip-audit" --strict --progress-spinner off \
            --requirement layers/shared/requirements.txt ${PIP_AUDIT_ARGS:-}
        run pip-audit-dev "$venv/bin/pip-audit" --strict --progress-spinner off \
            --requirement "$requirements" ${PIP_AUDIT_ARGS:-}
        rm -f "$requirements"
        ;;
    *)
        echo "unknown check: $check (known: cfn checkov bandit audit)" >&2
        failed+=("$check")
        ;;
    esac
done

if ((${#failed[@]})); then
    echo "hygiene: failed: ${failed[*]}"
    exit 1
fi
echo "hygiene: all checks passed"
