#!/usr/bin/env bash
# Installs the system packages that Offrecord's builds and tests need (Debian/Ubuntu).
# Idempotent: packages already installed are left alone, and apt is not touched at all when
# everything is there. Run as root (or through sudo).
#
# To add a dependency, add its Debian package to a group below (or a new array to PACKAGE_GROUPS).
set -euo pipefail

# libotr interop partner (interop/libotr-peer): libotr 4.1.x and libgcrypt headers, a C compiler.
LIBOTR_PACKAGES=(libotr5-dev libgcrypt20-dev pkg-config gcc)

# The constant-time test (crates/crypto/tests/constant_time.rs): callgrind, and setarch to run
# the probe with address-space randomisation off.
CT_TEST_PACKAGES=(valgrind util-linux)

PACKAGE_GROUPS=(LIBOTR_PACKAGES CT_TEST_PACKAGES)

missing=()
for group in "${PACKAGE_GROUPS[@]}"; do
    declare -n packages="$group"
    for package in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$package")
        fi
    done
    unset -n packages
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all system packages present"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
