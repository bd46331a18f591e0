#!/usr/bin/env bash
# The JSON Schema check (see check_schema.py), as `make check` runs it from the repository root.
# Debian's interpreter on purpose: python3 on PATH may be another one without python3-jsonschema.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema, yaml' 2>/dev/null; then
	echo "schema: $PY lacks jsonschema or yaml (install python3-jsonschema python3-yaml: make deps)"
	echo "schema: 0 passed, 1 failed"
	exit 1
fi
exec "$PY" tests/schema/check_schema.py "$@"
