#!/usr/bin/env bash
set -euo pipefail
# Installs the Debian/Ubuntu packages the build needs, only those that are missing.
#   scripts/install-deps.sh          the library, tests, benchmarks and programs
#   scripts/install-deps.sh --fuzz   also clang with libFuzzer and python3 (fuzz corpus)
packages=(cmake g++ make pkg-config libeigen3-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev curl ca-certificates)
if [[ ${1:-} == --fuzz ]]; then packages+=(clang libclang-rt-14-dev python3); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
