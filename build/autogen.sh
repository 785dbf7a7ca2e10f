#!/bin/sh
# Generate ./configure and Makefile.in (needs autoconf, automake, libtool).
set -e
cd "$(dirname "$0")/.."
mkdir -p build/aux build/m4
autoreconf --force --install --warnings=all,no-portability "$@"
