#!/bin/sh
# The bits backend through backend_ops against Wine's BITS, with a local
# HTTP server (see callback.sh).
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/callback.sh" "$here/../../build/mingw/bin/com_backend_test.exe"
