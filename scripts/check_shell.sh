#!/usr/bin/env bash
# Fails (with shellcheck's findings) when a tracked shell script has any; files a script
# sources are followed from the repository root, where the scripts run.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.sh')
shellcheck -x "${files[@]}"
echo "${#files[@]} shell scripts checked"
