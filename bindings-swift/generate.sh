#!/usr/bin/env bash
# The Swift sources are generated together with the Kotlin ones: see
# bindings-kotlin/generate.sh (same options: --check, --no-build).
exec "$(cd "$(dirname "$0")/.." && pwd)/bindings-kotlin/generate.sh" "$@"
