#!/usr/bin/env bash
# Guards `cmake --install` and the CMake package: Lockstep installed from BUILD_DIR into a
# scratch prefix lets examples/ configure out of tree with find_package(Lockstep), build
# against Lockstep::lockstep, and run on 2 ranks; and nothing installed points back into the
# source or build tree.
#   installed_package.sh BUILD_DIR SOURCE_DIR MPIEXEC
set -euo pipefail
build="$1" source="$2" mpiexec="$3"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
prefix="$scratch/prefix"

timeout 120 cmake --install "$build" --prefix "$prefix" > "$scratch/install.log"
for file in include/lockstep/lockstep.h include/lockstep/base/error.h \
            lib/cmake/Lockstep/LockstepConfig.cmake lib/cmake/Lockstep/LockstepTargets.cmake \
            lib/liblockstep_base.a lib/liblockstep_parallel.a; do
  [ -e "$prefix/$file" ] || { echo "FAIL: $file was not installed"; exit 1; }
done
if grep -rlF -e "$source/" -e "$(cd "$build" && pwd)/" "$prefix/lib/cmake/Lockstep"; then
  echo "FAIL: the installed package refers to the source or build tree (files above)"; exit 1
fi

timeout 300 cmake -S "$source/examples" -B "$scratch/examples" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" > "$scratch/configure.log" || {
  cat "$scratch/configure.log"; echo "FAIL: examples/ did not configure against the package"; exit 1; }
timeout 600 cmake --build "$scratch/examples" > "$scratch/build.log" || {
  cat "$scratch/build.log"; echo "FAIL: examples/ did not build against the package"; exit 1; }

timeout 120 "$mpiexec" -n 2 "$scratch/examples/multi_process_model" > "$scratch/run.log" 2>&1 || {
  cat "$scratch/run.log"; echo "FAIL: the example built against the package failed on 2 ranks"; exit 1; }
grep -q "predictions \[1000, 10\]" "$scratch/run.log" || {
  cat "$scratch/run.log"; echo "FAIL: the example did not print its predictions"; exit 1; }
echo "installed package: examples/ configured, built and ran on 2 ranks against $prefix"
