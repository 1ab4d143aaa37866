#!/usr/bin/env bash
# test-install.sh — `cmake --install` into a temporary prefix, then build a
# small C program against the installed header and library through the
# installed pkg-config file, and run it (shared and static library).
set -euo pipefail
build=$1
src=${NNKIT_SRC:?}
tmp=${NNKIT_TEST_TMP:-/tmp}/install
rm -rf "$tmp"
mkdir -p "$tmp"
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in bin/nnkit include/nnkit.h lib/libnnkit.a lib/pkgconfig/nnkit.pc \
         share/nnkit/index.json; do
  [ -e "$tmp/prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
ls "$tmp/prefix"/lib/libnnkit.so* >/dev/null
cat > "$tmp/use.c" <<'C'
#include <nnkit.h>
#include <stdio.h>
int main(void)
{
    nk_ctx *c;
    nk_graph *g;
    if (nk_ctx_new(&c) != NK_OK)
        return 1;
    if (nk_zoo_create(c, "lenet5", NULL, &g) != NK_OK) {
        fprintf(stderr, "%s\n", nk_errmsg(c));
        return 1;
    }
    printf("%s %lld\n", nk_version(), (long long)nk_graph_param_count(g));
    nk_graph_free(g);
    nk_ctx_free(c);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# shared
cc -std=c11 -Wall -Werror "$tmp/use.c" $(pkg-config --cflags --libs nnkit) \
   -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/use-shared"
out=$("$tmp/use-shared")
[ "$out" = "$(grep -m1 -o 'NNKIT_VERSION "[^"]*"' "$src/include/nnkit.h" | cut -d'"' -f2) 61706" ] \
  || { echo "unexpected output from the shared build: $out"; exit 1; }
# static library, system libraries shared
cc -std=c11 -Wall -Werror "$tmp/use.c" $(pkg-config --cflags nnkit) \
   "$tmp/prefix/lib/libnnkit.a" \
   $(pkg-config --libs $(pkg-config --print-requires-private nnkit)) \
   $(pkg-config --libs --static nnkit | grep -o -- '-l\(jpeg\|png\|pthread\|m\)\b' | tr '\n' ' ') \
   -o "$tmp/use-static"
[ "$("$tmp/use-static")" = "$out" ] || { echo "static build differs"; exit 1; }
"$tmp/prefix/bin/nnkit" --version >/dev/null
echo "1 passed, 0 failed"
