#!/usr/bin/env bash
# Prepares the dependency bundle that tests/gpu/device_check.sh needs on a GPU machine whose
# image has CUDA, CMake and PyTorch but none of Lockstep's Debian dependencies and no network.
# Run it on a Debian bookworm machine with apt (as root); it never installs anything into /:
#
#   tests/gpu/prepare_device_bundle.sh [DEVDEPS_DIR]      (default: <repo>/.devdeps)
#
# It downloads the .deb files (OpenBLAS, Boost.Program_options, nlohmann-json, zlib,
# GoogleTest) into DEVDEPS_DIR/debs, unpacks them with dpkg-deb into DEVDEPS_DIR/root, prunes
# what a build does not read (documentation, the static OpenBLAS, Boost headers outside
# Program_options' include closure, shared libraries that a static one replaces), and packs
# the tree into DEVDEPS_DIR/bundle/devroot.tar.gz, beside a copy of Fashion-MNIST
# (DEVDEPS_DIR/bundle/fashion-mnist, for the main job). Only DEVDEPS_DIR/bundle travels to the GPU
# machine (name it in the device run's carry list): the OpenBLAS library alone is 36 MB
# unpacked and about 8 MB packed.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
devdeps="$(realpath -m "${1:-${repo_root}/.devdeps}")"
readonly script_dir repo_root devdeps
readonly debs_dir="${devdeps}/debs"
readonly root="${devdeps}/root"
readonly bundle_dir="${devdeps}/bundle"
readonly multiarch="x86_64-linux-gnu"

# What Lockstep builds against without MPI. Static libraries replace the shared ones where
# Debian ships them (Boost.Program_options, zlib, GoogleTest), so only OpenBLAS and its
# Fortran runtime are loaded at run time from the bundle.
readonly packages=(
  libopenblas0-pthread     # libopenblas.so.0 (the pthread build, as on the development machines)
  libopenblas-pthread-dev  # cblas.h, openblas_config.h, the libopenblas.so link
  libgfortran5             # needed by libopenblas.so.0
  libquadmath0             # needed by libgfortran.so.5
  libboost1.74-dev         # Boost headers (pruned below) and BoostConfig.cmake
  libboost-program-options1.74-dev  # libboost_program_options.a and its CMake config
  nlohmann-json3-dev       # header-only, with its CMake config
  zlib1g-dev               # zlib.h and libz.a
  libgtest-dev             # GoogleTest headers, libgtest.a, libgtest_main.a, GTestConfig.cmake
)

fail() {
  echo "prepare_device_bundle: error: $*" >&2
  exit 1
}

require_tools() {
  local tool
  for tool in apt-get dpkg-deb g++ tar gzip sha256sum; do
    command -v "${tool}" >/dev/null || fail "expected '${tool}' on PATH, found none"
  done
  [[ "$(dpkg --print-architecture)" == "amd64" ]] ||
    fail "expected an amd64 machine (the GPU machine is x86-64), found $(dpkg --print-architecture)"
}

# apt's sandbox user cannot write into the repository; the download then runs as root, which
# apt only warns about. That one warning is left out of the output.
apt_download() {
  local log status=0
  log="$(mktemp)"
  (cd "${debs_dir}" && apt-get download "${packages[@]}") >"${log}" 2>&1 || status=$?
  grep -v "unsandboxed" "${log}" || true
  rm -f "${log}"
  return "${status}"
}

download_packages() {
  rm -rf "${debs_dir}"
  mkdir -p "${debs_dir}"
  if ! apt_download; then
    echo "apt-get download failed; refreshing the package lists once and retrying" >&2
    apt-get update -qq
    apt_download || fail "apt-get download ${packages[*]} failed"
  fi
  local count
  count=$(find "${debs_dir}" -name '*.deb' | wc -l)
  [[ "${count}" -eq "${#packages[@]}" ]] ||
    fail "expected ${#packages[@]} .deb files in ${debs_dir}, found ${count}"
}

unpack_packages() {
  rm -rf "${root}"
  mkdir -p "${root}"
  local deb
  for deb in "${debs_dir}"/*.deb; do
    dpkg-deb -x "${deb}" "${root}"
  done
}

# Boost is 140 MB of headers; Lockstep includes only <boost/program_options.hpp>. Keep the
# headers the preprocessor reads for it (in C++17 and C++20, so either standard builds) and
# all of boost/config (compiler and library detection, which may pick other files under
# another GCC), delete the rest.
prune_boost_headers() {
  local boost_include="${root}/usr/include"
  local keep
  keep="$(mktemp)"
  local standard
  for standard in c++17 c++20; do
    echo '#include <boost/program_options.hpp>' |
      g++ -std="${standard}" -I"${boost_include}" -M -x c++ - |
      tr -s ' \134' '\n' | grep "^${boost_include}/boost/" >>"${keep}" || true
  done
  [[ -s "${keep}" ]] || fail "found no Boost header in the include closure of program_options"
  find "${boost_include}/boost/config" -type f >>"${keep}"
  echo "${boost_include}/boost/version.hpp" >>"${keep}"
  sort -u -o "${keep}" "${keep}"
  find "${boost_include}/boost" -type f | sort | comm -23 - "${keep}" | xargs -r rm -f
  find "${boost_include}/boost" -type d -empty -delete
  rm -f "${keep}"
}

prune_tree() {
  local lib="${root}/usr/lib/${multiarch}"
  rm -rf "${root}/usr/share/doc" "${root}/usr/share/man" "${root}/usr/share/lintian" \
    "${root}/usr/share/gcc" "${root}/usr/src"
  # OpenBLAS: the shared library only (its static twin is 58 MB); the separate libblas.so.3
  # and liblapack.so.3 exist for Debian's alternatives, which Lockstep does not use.
  rm -f "${lib}"/openblas-pthread/*.a "${lib}"/openblas-pthread/libblas.* \
    "${lib}"/openblas-pthread/liblapack.*
  # Boost.Program_options and zlib link statically: drop the links to shared libraries this
  # bundle does not ship (zlib's is an absolute link into the host's /lib).
  rm -f "${lib}/libboost_program_options.so" "${lib}/libz.so" \
    "${lib}/cmake/boost_program_options-1.74.0/libboost_program_options-variant-shared.cmake"
  prune_boost_headers
}

# Every Boost header that <boost/program_options.hpp> reads must resolve inside the bundle;
# one that resolves elsewhere (this machine's /usr/include) was pruned by mistake.
check_boost_closure() {
  local outside
  outside=$(echo '#include <boost/program_options.hpp>' |
    g++ -std=c++20 -I"${root}/usr/include" -M -x c++ - | tr -s ' \134' '\n' |
    grep '/boost/' | grep -v "^${root}/" || true)
  [[ -z "${outside}" ]] || fail "Boost headers missing from the bundle: ${outside}"
}

check_expected_files() {
  local lib="${root}/usr/lib/${multiarch}"
  local path
  for path in \
    "${root}/usr/include/${multiarch}/openblas-pthread/cblas.h" \
    "${lib}/openblas-pthread/libopenblas.so" \
    "${lib}/openblas-pthread/libopenblas.so.0" \
    "${lib}/libgfortran.so.5" \
    "${lib}/libquadmath.so.0" \
    "${lib}/libboost_program_options.a" \
    "${lib}/cmake/Boost-1.74.0/BoostConfig.cmake" \
    "${root}/usr/include/boost/program_options.hpp" \
    "${root}/usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake" \
    "${root}/usr/include/nlohmann/json.hpp" \
    "${root}/usr/include/zlib.h" \
    "${lib}/libz.a" \
    "${lib}/libgtest.a" \
    "${lib}/libgtest_main.a" \
    "${lib}/cmake/GTest/GTestConfig.cmake"; do
    [[ -e "${path}" ]] || fail "expected ${path#"${devdeps}"/} in the bundle, found nothing"
  done
  check_boost_closure
}

write_manifest() {
  local manifest="${root}/MANIFEST"
  {
    echo "# Debian packages unpacked into this tree by tests/gpu/prepare_device_bundle.sh"
    local deb
    for deb in "${debs_dir}"/*.deb; do
      printf '%s %s %s\n' "$(dpkg-deb -f "${deb}" Package)" "$(dpkg-deb -f "${deb}" Version)" \
        "$(sha256sum "${deb}" | cut -d' ' -f1)"
    done
  } >"${manifest}"
}

# The data set of the main job travels as it is (already gzip-compressed): device_check.sh
# trains on it with the train app.
readonly fashion_mnist_dir=/usr/share/datasets/fashion-mnist

pack_bundle() {
  rm -rf "${bundle_dir}"
  mkdir -p "${bundle_dir}/fashion-mnist"
  tar -C "${devdeps}" -czf "${bundle_dir}/devroot.tar.gz" root
  local file
  for file in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
    t10k-labels-idx1-ubyte.gz; do
    [[ -f "${fashion_mnist_dir}/${file}" ]] ||
      fail "expected ${fashion_mnist_dir}/${file} (Debian's dataset-fashion-mnist), found nothing"
    cp "${fashion_mnist_dir}/${file}" "${bundle_dir}/fashion-mnist/"
  done
}

main() {
  require_tools
  echo "== downloading ${#packages[@]} Debian packages into ${debs_dir}"
  download_packages
  echo "== unpacking into ${root} and pruning"
  unpack_packages
  prune_tree
  check_expected_files
  write_manifest
  echo "== packing ${bundle_dir}/devroot.tar.gz"
  pack_bundle
  echo
  cat "${root}/MANIFEST"
  echo
  du -sh "${debs_dir}" "${root}" "${bundle_dir}"
  local bundle_mib
  bundle_mib=$(du -sm "${bundle_dir}" | cut -f1)
  # The device run carries at most 64 MiB in all, the working tree included.
  [[ "${bundle_mib}" -le 50 ]] || fail "expected a bundle of at most 50 MiB, found ${bundle_mib} MiB"
  echo
  echo "carry: ${bundle_dir#"${repo_root}"/}"
  echo "  (the device run names it in carry; tests/gpu/device_check.sh unpacks it)"
}

main "$@"
