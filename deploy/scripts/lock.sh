#!/usr/bin/env bash
# Re-resolve requirements/*.in into the fully pinned requirements/*.txt, each
# in a clean virtualenv, so the locks hold exactly what a fresh install gets.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

freeze() {  # $1: .in file -> prints the pinned set
    "$python" -m venv "$work/venv-$2"
    "$work/venv-$2/bin/pip" install --quiet --disable-pip-version-check -r "$1" >&2
    "$work/venv-$2/bin/pip" freeze --all --exclude pip --exclude setuptools --exclude wheel
}

freeze requirements/base.in base >"$work/base"
freeze requirements/dev.in dev >"$work/dev"
{
    echo "# Fully pinned lock of requirements/base.in (pip freeze of a clean venv; Python 3.11)."
    echo "# Regenerate: make lock"
    cat "$work/base"
} >requirements/base.txt
{
    echo "# Fully pinned lock of requirements/dev.in (base.txt plus test and lint tools)."
    echo "-r base.txt"
    grep -vxFf "$work/base" "$work/dev"
} >requirements/dev.txt
echo "lock: requirements/base.txt ($(wc -l <"$work/base") pins), requirements/dev.txt"
