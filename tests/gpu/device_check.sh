#!/usr/bin/env bash
# The GPU machine's check of Lockstep, in one run: unpack the dependency bundle made by
# tests/gpu/prepare_device_bundle.sh, find CUDA and NCCL, configure and build without MPI,
# run the GPU tests and the CPU unit tests, then the GPU benchmarks (Dense GEMM against
# cuBLAS, training throughput against PyTorch on the same GPU, one-rank NCCL allreduce), then
# the main job (the train app on Fashion-MNIST, stopped, resumed, and the predict app on its
# checkpoint), and print one markdown table of the results last (tests/gpu/device_table.py).
#
#   tests/gpu/device_check.sh [--out DIR] [--build-dir DIR] [--deps DIR] [--no-gpu-ok]
#                             [--skip-gpu-tests] [--skip-cpu-tests] [--stop-at-first-failure]
#                             [--jobs N] [--cuda-arch ARCH] [--budget SECONDS]
#
# The GPU machine has CUDA, CMake, ninja and PyTorch but no Debian dependency of Lockstep and
# no network, so every dependency comes from the bundle (<deps>/bundle/devroot.tar.gz), which
# CMake is pointed at explicitly (CMakeCache.txt then names no system copy). --no-gpu-ok
# runs the same script on a machine without a GPU: configure and build as on the GPU
# machine, the GPU tests skip themselves, the GPU benchmarks must exit with 77 ("no CUDA
# device"), and the steps that need a GPU report "no GPU" instead of failing.
#
# Output: the console, plus under --out (default $OUT, else <build-dir>/device-check-out):
# logs/build.log, logs/ctest_gpu.log, logs/ctest_cpu.log, logs/benchmarks.log, results.json
# (every benchmark's JSON) and results.md (the table). Exit status: 0 when every step passed
# (or reported "no GPU" under --no-gpu-ok); 1 when a step failed or was skipped for time;
# 2 for bad options. A failure of the environment, configure or build stops the run at once;
# a failing test or benchmark is reported and the run goes on to the next step (unless
# --stop-at-first-failure), so one device run yields every result it can. Either way the
# summary names the first step that failed, and the table shows what was measured.
#
# Time: a step starts only while the run is younger than --budget seconds (default 420), and
# every long step (build, ctest, each benchmark) is cut off so that the run ends within
# budget + 90 s, which leaves the table and the copy of the output inside a 10-minute limit.
# On a machine kept warm between calls, a second run reuses the build folder (incremental),
# and --skip-gpu-tests --skip-cpu-tests reruns the benchmarks alone.
set -uo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
readonly script_dir repo_root
readonly multiarch="x86_64-linux-gnu"
readonly exit_no_device=77  # what bench_gpu_gemm and bench_nccl_bandwidth return without a GPU

build_dir="${repo_root}/build-device"
out_dir="${OUT:-}"
deps_dir="${repo_root}/.devdeps"
no_gpu_ok=0
skip_cpu_tests=0
skip_gpu_tests=0
stop_at_first_failure=0
jobs="$(nproc)"
cuda_arch=""
budget_s=420
readonly grace_s=90

step_names=()
step_results=()
first_failure=""
gpu_present=0
gpu_reason=""

usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

parse_options() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --out) out_dir="$2"; shift 2 ;;
      --build-dir) build_dir="$2"; shift 2 ;;
      --deps) deps_dir="$2"; shift 2 ;;
      --no-gpu-ok) no_gpu_ok=1; shift ;;
      --skip-cpu-tests) skip_cpu_tests=1; shift ;;
      --skip-gpu-tests) skip_gpu_tests=1; shift ;;
      --stop-at-first-failure) stop_at_first_failure=1; shift ;;
      --jobs) jobs="$2"; shift 2 ;;
      --cuda-arch) cuda_arch="$2"; shift 2 ;;
      --budget) budget_s="$2"; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) echo "device_check: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
  build_dir="$(realpath -m "${build_dir}")"
  deps_dir="$(realpath -m "${deps_dir}")"
  out_dir="$(realpath -m "${out_dir:-${build_dir}/device-check-out}")"
  readonly json_dir="${build_dir}/device-check-json"
  readonly log_dir="${out_dir}/logs"
}

# ---- step bookkeeping --------------------------------------------------------------------

elapsed() { echo "$((SECONDS - start_seconds))"; }

begin_step() {
  echo
  echo "=== [$(elapsed) s] $1"
}

# record NAME RESULT [DETAIL]: RESULT is ok, FAILED, no-gpu or skipped.
record() {
  step_names+=("$1")
  step_results+=("$2${3:+ (${3})}")
  case "$2" in
    FAILED|skipped)
      [[ -n "${first_failure}" ]] || first_failure="$1: $2${3:+ (${3})}"
      echo "device_check: step '$1' $2${3:+: ${3}}" >&2
      ;;
  esac
}

# A failed test or benchmark: the run goes on unless --stop-at-first-failure.
step_failed() {
  record "$1" FAILED "$2"
  [[ "${stop_at_first_failure}" -eq 0 ]] || finish
}

# The environment, configure or build broke: nothing after it can run.
fatal() {
  record "$1" FAILED "$2"
  finish
}

# Seconds a step may run: `default`, or less so that the run ends within budget + grace.
limit_for() {
  local left=$((budget_s + grace_s - $(elapsed)))
  [[ "${left}" -gt 0 ]] || left=1
  echo "$((left < $1 ? left : $1))"
}

within_budget() {
  if [[ "$(elapsed)" -ge "${budget_s}" ]]; then
    record "$1" skipped "time budget of ${budget_s} s spent before it started"
    return 1
  fi
}

print_summary() {
  echo
  echo "=== [$(elapsed) s] summary"
  local i
  for i in "${!step_names[@]}"; do
    printf '  %-28s %s\n' "${step_names[$i]}" "${step_results[$i]}"
  done
  if [[ -n "${first_failure}" ]]; then
    echo "device_check: FAILED; first failing step: ${first_failure}"
  else
    echo "device_check: every step passed$([[ "${gpu_present}" -eq 1 ]] || echo ' (no GPU: GPU steps reported "no GPU")')"
  fi
}

# Prints the summary and then the table of whatever was measured (the table last), and exits.
finish() {
  print_summary
  echo
  mkdir -p "${json_dir}"
  python3 "${script_dir}/device_table.py" --json-dir "${json_dir}" \
    --out-json "${out_dir}/results.json" --out-md "${out_dir}/results.md" ||
    echo "device_check: device_table.py failed; the JSON files are in ${json_dir}" >&2
  [[ -z "${first_failure}" ]] && exit 0
  exit 1
}

# ---- environment -----------------------------------------------------------------------

# Unpacks the bundle into the build folder (again whenever the tarball changed) and points
# the compiler, CMake and the loader at it.
setup_bundle() {
  begin_step "dependency bundle"
  local tarball="${deps_dir}/bundle/devroot.tar.gz"
  [[ -f "${tarball}" ]] || fatal bundle "expected ${tarball} (made by tests/gpu/prepare_device_bundle.sh and carried as .devdeps/bundle), found nothing"
  local stamp="${build_dir}/devroot.stamp"
  local checksum
  checksum="$(sha256sum "${tarball}" | cut -d' ' -f1)"
  devroot="${build_dir}/devroot"
  if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${checksum}" ]]; then
    rm -rf "${devroot}" "${stamp}"
    mkdir -p "${devroot}"
    tar -xzf "${tarball}" -C "${devroot}" --strip-components=1 ||
      fatal bundle "could not unpack ${tarball}"
    echo "${checksum}" >"${stamp}"
  fi
  devlib="${devroot}/usr/lib/${multiarch}"
  [[ -f "${devlib}/openblas-pthread/libopenblas.so" && -f "${devlib}/libgtest.a" ]] ||
    fatal bundle "expected OpenBLAS and GoogleTest under ${devroot}, found an incomplete tree"
  sed -n '2,$p' "${devroot}/MANIFEST" | awk '{print "  " $1 " " $2}'
  # The build and everything it runs (test discovery, tests, benchmarks) load OpenBLAS and
  # its Fortran runtime from the bundle; PyTorch runs with the caller's setting.
  original_ld_library_path="${LD_LIBRARY_PATH:-}"
  export LD_LIBRARY_PATH="${devlib}/openblas-pthread:${devlib}${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
  record bundle ok "${devroot}"
}

find_tool() {  # find_tool NAME [FALLBACK_PATH...]: prints the first that exists
  local name="$1"; shift
  local candidate
  for candidate in "$(command -v "${name}" 2>/dev/null)" "$@"; do
    [[ -n "${candidate}" && -x "${candidate}" ]] && { echo "${candidate}"; return 0; }
  done
  return 1
}

find_toolchain() {
  begin_step "toolchain"
  nvcc="$(find_tool nvcc /usr/local/cuda/bin/nvcc)" || fatal toolchain "expected nvcc on PATH or in /usr/local/cuda/bin, found none"
  cmake_bin="$(find_tool cmake)" || fatal toolchain "expected cmake on PATH, found none"
  ctest_bin="$(find_tool ctest "$(dirname "${cmake_bin}")/ctest")" || fatal toolchain "expected ctest beside cmake, found none"
  local cxx
  cxx="$(find_tool "${CXX:-c++}" "$(command -v g++ 2>/dev/null)")" ||
    fatal toolchain "expected a C++ compiler (\$CXX, c++ or g++) on PATH, found none"
  # Keep going past a failed file: one device run then reports every compile error.
  if find_tool ninja >/dev/null; then
    generator=(-G Ninja) keep_going=(-- -k 0)
  else
    generator=(-G "Unix Makefiles") keep_going=(-- -k)
  fi
  echo "  nvcc:  ${nvcc} ($("${nvcc}" --version | tail -n 2 | head -n 1))"
  echo "  cmake: ${cmake_bin} ($("${cmake_bin}" --version | head -n 1)), generator ${generator[*]:1}"
  echo "  c++:   ${cxx} ($("${cxx}" --version | head -n 1))"
  echo "  python3: $(command -v python3 || echo none)"
  record toolchain ok
}

# Whether a GPU answers (nvidia-smi), and its compute capability for CMAKE_CUDA_ARCHITECTURES.
detect_gpu() {
  begin_step "GPU"
  local caps
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 &&
    caps="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null)" &&
    [[ -n "${caps}" ]]; then
    gpu_present=1
    nvidia-smi
    [[ -n "${cuda_arch}" ]] || cuda_arch="$(head -n 1 <<<"${caps}" | tr -d ' .')"
    record gpu ok "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1), sm_${cuda_arch}"
    return
  fi
  gpu_reason="$(command -v nvidia-smi >/dev/null && nvidia-smi -L 2>&1 | head -n 1 || echo 'nvidia-smi not found')"
  [[ "${no_gpu_ok}" -eq 1 ]] || fatal gpu "expected a GPU, found none: ${gpu_reason}"
  [[ -n "${cuda_arch}" ]] || cuda_arch=90
  echo "  no GPU (${gpu_reason}); building for sm_${cuda_arch} as the GPU machine would"
  record gpu no-gpu "${gpu_reason}"
}

# nccl_in ROOT: sets nccl_include and nccl_library when ROOT holds both nccl.h and libnccl.so*.
nccl_in() {
  local root="$1" dir
  nccl_include="" nccl_library=""
  for dir in "${root}/include" "${root}/targets/x86_64-linux/include"; do
    [[ -f "${dir}/nccl.h" ]] && { nccl_include="${dir}"; break; }
  done
  for dir in "${root}/lib" "${root}/lib64" "${root}/lib/${multiarch}" "${root}/targets/x86_64-linux/lib"; do
    local found
    found="$(find "${dir}" -maxdepth 1 -name 'libnccl.so*' 2>/dev/null | sort | head -n 1)"
    [[ -n "${found}" ]] && { nccl_library="${found}"; break; }
  done
  [[ -n "${nccl_include}" && -n "${nccl_library}" ]]
}

# NCCL from $NCCL_ROOT, the CUDA toolkit, /usr, or PyTorch's nvidia-nccl wheel (in that order).
# CMake's find_library wants libnccl.so; the wheel has only libnccl.so.2, so a folder of the
# build holds the links.
find_nccl() {
  begin_step "NCCL"
  local wheel=""
  wheel="$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null)" || wheel=""
  local root found=""
  for root in "${NCCL_ROOT:-}" "$(dirname "$(dirname "${nvcc}")")" /usr/local/cuda /usr "${wheel}"; do
    [[ -n "${root}" ]] && nccl_in "${root}" && { found="${root}"; break; }
  done
  [[ -n "${found}" ]] || fatal nccl "expected nccl.h and libnccl.so* under \$NCCL_ROOT, the CUDA toolkit, /usr or the nvidia-nccl wheel (${wheel:-not importable}), found none"
  local real
  real="$(realpath "${nccl_library}")"
  local links="${build_dir}/nccl-link"
  mkdir -p "${links}"
  ln -sf "${real}" "${links}/libnccl.so"
  ln -sf "${real}" "${links}/libnccl.so.2"
  nccl_library="${links}/libnccl.so"
  export LD_LIBRARY_PATH="${links}:${LD_LIBRARY_PATH}"
  local version
  version="$(awk '/^#define NCCL_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "${nccl_include}/nccl.h")"
  echo "  NCCL ${version}: ${nccl_include}/nccl.h, ${real}"
  record nccl ok "${version} from ${found}"
}

# ---- build -------------------------------------------------------------------------------

configure() {
  begin_step "configure (${build_dir})"
  local devusr="${devroot}/usr"
  local args=(
    -S "${repo_root}" -B "${build_dir}" "${generator[@]}"
    -DCMAKE_BUILD_TYPE=Release
    -DLOCKSTEP_WITH_MPI=OFF -DLOCKSTEP_WITH_CUDA=ON -DLOCKSTEP_BUILD_TESTS=ON
    -DLOCKSTEP_BUILD_BENCHMARKS=ON
    -DCMAKE_CUDA_COMPILER="${nvcc}" -DCMAKE_CUDA_ARCHITECTURES="${cuda_arch}"
    # CMake before 3.26 has no C++20 flag for nvcc ("CUDA20 ... not supported"); newer ones
    # set the same flag themselves.
    -DCMAKE_CUDA20_STANDARD_COMPILE_OPTION=-std=c++20
    -DCMAKE_CUDA20_EXTENSION_COMPILE_OPTION=-std=c++20
    -DNCCL_LIBRARY="${nccl_library}" -DNCCL_INCLUDE_DIR="${nccl_include}"
    # Every dependency named by path, so that nothing else on the machine is picked up.
    -DCMAKE_PREFIX_PATH="${devusr}"
    -DBLA_VENDOR=OpenBLAS
    -DBLAS_openblas_LIBRARY="${devusr}/lib/${multiarch}/openblas-pthread/libopenblas.so"
    -DLOCKSTEP_CBLAS_INCLUDE_DIR="${devusr}/include/${multiarch}/openblas-pthread"
    -DZLIB_LIBRARY="${devusr}/lib/${multiarch}/libz.a" -DZLIB_INCLUDE_DIR="${devusr}/include"
    -Dnlohmann_json_DIR="${devusr}/share/cmake/nlohmann_json"
    -DBoost_DIR="${devusr}/lib/${multiarch}/cmake/Boost-1.74.0" -DBoost_USE_STATIC_LIBS=ON
    -DBoost_NO_SYSTEM_PATHS=ON
    -DGTest_DIR="${devusr}/lib/${multiarch}/cmake/GTest"
  )
  mkdir -p "${log_dir}"
  echo "cmake ${args[*]}" >"${log_dir}/build.log"
  if ! "${cmake_bin}" "${args[@]}" >>"${log_dir}/build.log" 2>&1; then
    tail -n 60 "${log_dir}/build.log"
    fatal configure "cmake failed (logs/build.log)"
  fi
  grep -E "^-- (Lockstep|Found|The CUDA)" "${log_dir}/build.log" | sed 's/^/  /'
  check_cache_paths
  record configure ok
}

# The dependencies CMake recorded must all lie in the bundle (or NCCL's folder): a path
# elsewhere means a system copy was found instead, which the GPU machine would not have.
check_cache_paths() {
  local cache="${build_dir}/CMakeCache.txt" variable value bad=""
  for variable in BLAS_openblas_LIBRARY LOCKSTEP_CBLAS_INCLUDE_DIR ZLIB_LIBRARY \
    ZLIB_INCLUDE_DIR nlohmann_json_DIR Boost_DIR boost_program_options_DIR boost_headers_DIR \
    GTest_DIR; do
    value="$(grep -E "^${variable}(:[A-Z]+)?=" "${cache}" | head -n 1 | cut -d= -f2-)"
    printf '  %-28s %s\n' "${variable}" "${value:-(unset)}"
    [[ "${value}" == "${devroot}"/* ]] || bad+=" ${variable}=${value:-unset}"
  done
  [[ -z "${bad}" ]] || fatal configure "expected every dependency from ${devroot}, found:${bad}"
}

build() {
  begin_step "build (${jobs} jobs)"
  # Only what the checks run: the unit and GPU test binaries, the benchmarks and the apps.
  local targets
  mapfile -t targets < <("${cmake_bin}" --build "${build_dir}" --target help 2>/dev/null |
    grep -oE '(^|[ .:])(lockstep_[a-z_]+_tests|bench_train_throughput|bench_gpu_gemm|bench_nccl_bandwidth|train|predict)(:|$)' |
    tr -d ' .:' | sort -u)
  local required
  for required in lockstep_gpu_tests bench_train_throughput bench_gpu_gemm bench_nccl_bandwidth \
    train predict; do
    [[ " ${targets[*]} " == *" ${required} "* ]] ||
      fatal build "expected a target ${required} in the build, found none (is its CMakeLists.txt wired in?)"
  done
  echo "  targets: ${targets[*]}"
  local limit status=0
  limit="$(limit_for 600)"
  timeout "${limit}" "${cmake_bin}" --build "${build_dir}" --parallel "${jobs}" \
    --target "${targets[@]}" "${keep_going[@]}" >>"${log_dir}/build.log" 2>&1 || status=$?
  if [[ "${status}" -ne 0 ]]; then
    grep -E "^FAILED|error:|Error " "${log_dir}/build.log" | head -n 60
    echo "  ..."
    tail -n 40 "${log_dir}/build.log"
    [[ "${status}" -ne 124 ]] || fatal build "the build was cut off after ${limit} s (logs/build.log)"
    fatal build "the build failed (logs/build.log)"
  fi
  # The binaries must load OpenBLAS and NCCL from where this run put them.
  ldd "${build_dir}/bench/gpu/bench_gpu_gemm" | grep -E "openblas|gfortran|nccl|cublas|not found" |
    sed 's/^/  /'
  if ldd "${build_dir}/bench/gpu/bench_gpu_gemm" | grep -q "not found"; then
    fatal build "bench_gpu_gemm has unresolved shared libraries (ldd above)"
  fi
  record build ok "$(elapsed) s since start"
}

# ---- tests -------------------------------------------------------------------------------

# run_ctest STEP LOG LIMIT ARGS...: ctest on the build within LIMIT seconds, its output in
# LOG; sets ctest_status and ctest_summary ("100% tests passed, ..." or why there is none).
run_ctest() {
  local step="$1" log="$2" limit="$3"
  shift 3
  timeout "${limit}" "${ctest_bin}" --test-dir "${build_dir}" --output-on-failure \
    --no-tests=error --timeout 120 "$@" >"${log}" 2>&1
  ctest_status=$?
  grep -E "tests passed|tests failed|\*\*\*Failed|\*\*\*Timeout|Not Run|Total Test time" \
    "${log}" | sed 's/^/  /'
  local skipped
  skipped="$(grep -c '\*\*\*Skipped' "${log}")"
  ctest_summary="$(grep -E "tests passed|tests failed" "${log}" | tail -n 1)"
  [[ "${skipped}" -eq 0 ]] || ctest_summary+=", ${skipped} skipped"
  [[ "${ctest_status}" -ne 124 ]] || ctest_summary="cut off after ${limit} s; ${ctest_summary}"
  [[ -n "${ctest_summary}" ]] || ctest_summary="ctest exit ${ctest_status}"
  [[ "${ctest_status}" -eq 0 ]] || step_failed "${step}" "${ctest_summary} (logs/${log##*/})"
}

gpu_tests() {
  begin_step "GPU tests (ctest -L gpu)"
  if [[ "${skip_gpu_tests}" -eq 1 ]]; then
    record gpu-tests skipped-by-option
    return
  fi
  within_budget gpu-tests || return
  # Cases run as separate processes; several at once share the GPU well.
  run_ctest gpu-tests "${log_dir}/ctest_gpu.log" "$(limit_for 240)" -L gpu -j 8
  [[ "${ctest_status}" -eq 0 ]] || return
  if [[ "${gpu_present}" -eq 0 ]]; then
    record gpu-tests no-gpu "${ctest_summary}; the cases skip themselves without a GPU"
  else
    record gpu-tests ok "${ctest_summary}"
  fi
}

cpu_tests() {
  begin_step "CPU unit tests (ctest -LE 'mpi|apps|gpu|structure|install')"
  if [[ "${skip_cpu_tests}" -eq 1 ]]; then
    record cpu-tests skipped-by-option
    return
  fi
  within_budget cpu-tests || return
  run_ctest cpu-tests "${log_dir}/ctest_cpu.log" "$(limit_for 180)" -LE 'mpi|apps|gpu|structure|install' \
    -j "${jobs}"
  [[ "${ctest_status}" -ne 0 ]] || record cpu-tests ok "${ctest_summary}"
}

# ---- benchmarks --------------------------------------------------------------------------

# run_bench STEP COMMAND...: output to the console and logs/benchmarks.log.
run_bench() {
  local step="$1"; shift
  begin_step "benchmark ${step}"
  within_budget "${step}" || return
  echo "\$ $*" | tee -a "${log_dir}/benchmarks.log"
  local limit
  limit="$(limit_for 120)"
  timeout "${limit}" "$@" 2>&1 | tee -a "${log_dir}/benchmarks.log"
  local status="${PIPESTATUS[0]}"
  if [[ "${gpu_present}" -eq 0 ]]; then
    if [[ "${status}" -eq "${exit_no_device}" ]]; then
      record "${step}" no-gpu "exit ${exit_no_device}, as expected without a GPU"
    else
      step_failed "${step}" "expected exit ${exit_no_device} (no CUDA device) without a GPU, found ${status}"
    fi
  elif [[ "${status}" -eq 0 ]]; then
    record "${step}" ok
  else
    step_failed "${step}" "exit ${status}$([[ "${status}" -eq 124 ]] && echo ": cut off after ${limit} s")"
  fi
}

gpu_benchmarks() {
  rm -rf "${json_dir}"
  mkdir -p "${json_dir}"
  run_bench gemm "${build_dir}/bench/gpu/bench_gpu_gemm" --json "${json_dir}/gemm.json"
  run_bench nccl "${build_dir}/bench/gpu/bench_nccl_bandwidth" --json "${json_dir}/nccl.json"
  if [[ "${gpu_present}" -eq 0 ]]; then
    record train-throughput no-gpu "needs a GPU"
    return
  fi
  # Synthetic data (the machine has no data set), batch 256; Lockstep with its default
  # micro-batches of 16 rows (bitwise world-size invariance) and with whole batches (the work
  # PyTorch does), then PyTorch on the same GPU.
  local model steps warmup
  for model in mlp cnn; do
    if [[ "${model}" == mlp ]]; then steps=200 warmup=20; else steps=60 warmup=10; fi
    local common=(--model "${model}" --device cuda --batch-size 256 --steps "${steps}"
      --warmup "${warmup}")
    run_bench "train-${model}-lockstep" "${build_dir}/bench/bench_train_throughput" \
      "${common[@]}" --data synthetic --json "${json_dir}/train_${model}_lockstep.json"
    run_bench "train-${model}-lockstep-mb0" "${build_dir}/bench/bench_train_throughput" \
      "${common[@]}" --data synthetic --micro-batch 0 \
      --json "${json_dir}/train_${model}_lockstep_mb0.json"
    run_bench "train-${model}-pytorch" env LD_LIBRARY_PATH="${original_ld_library_path}" \
      python3 "${repo_root}/bench/peer/pytorch_train.py" "${common[@]}" --ranks 1 \
      --data synthetic --json "${json_dir}/train_${model}_pytorch.json"
  done
}

# ---- the main job ------------------------------------------------------------------------

# main_job MODEL EPOCHS STOP_AT: the train app on the GPU with Fashion-MNIST (carried in the
# bundle), stopped by --max-steps at STOP_AT with a checkpoint and resumed to the end, then the
# predict app on the newest checkpoint. The test accuracy train reports at the end and the one
# predict computes from the checkpoint must be equal: the weights went from the GPU to the file
# and back intact. Writes app_MODEL.json for the table.
main_job() {
  local model="$1" epochs="$2" stop_at="$3"
  local step="main-job-${model}"
  begin_step "main job: train ${model} on Fashion-MNIST (${epochs} epochs, stop at step ${stop_at}, resume), predict"
  within_budget "${step}" || return
  if [[ "${gpu_present}" -eq 0 ]]; then
    record "${step}" no-gpu "needs a GPU"
    return
  fi
  local data="${deps_dir}/bundle/fashion-mnist"
  if [[ ! -f "${data}/train-images-idx3-ubyte.gz" ]]; then
    step_failed "${step}" "expected Fashion-MNIST in ${data} (prepare_device_bundle.sh copies it), found none"
    return
  fi
  local work="${build_dir}/main-job-${model}" log="${log_dir}/main_job_${model}.log"
  rm -rf "${work}"
  mkdir -p "${work}"
  : >"${log}"
  local train=("${build_dir}/apps/train" --device cuda --model "${model}"
    --data "fashion-mnist:${data}" --epochs "${epochs}" --checkpoint-dir "${work}/ckpt")
  # run_logged WHAT COMMAND...: the command's output to the console and the log; false when
  # it failed (the step is then recorded as failed).
  run_logged() {
    local what="$1"; shift
    echo "\$ $*" | tee -a "${log}"
    timeout "$(limit_for 120)" "$@" 2>&1 | tee -a "${log}" "${work}/${what}.out"
    local status="${PIPESTATUS[0]}"
    [[ "${status}" -eq 0 ]] && return 0
    step_failed "${step}" "${what} exited with ${status} (logs/${log##*/})"
    return 1
  }
  local started=${SECONDS}
  run_logged first "${train[@]}" --max-steps "${stop_at}" || return
  run_logged resumed "${train[@]}" --resume auto --max-steps 0 || return
  local wall_s=$((SECONDS - started))
  local newest
  newest="$(ls -v "${work}/ckpt"/ckpt-*.safetensors | tail -n 1)"
  run_logged predict "${build_dir}/apps/predict" --device cuda --checkpoint "${newest}" \
    --data "fashion-mnist:${data}" --output "${work}/probabilities.npy" || return
  local trained predicted epoch_line
  trained="$(sed -n 's/^test accuracy \([0-9.]*\).*/\1/p' "${work}/resumed.out" | tail -n 1)"
  predicted="$(sed -n 's/^accuracy \([0-9.]*\) on.*/\1/p' "${work}/predict.out" | tail -n 1)"
  epoch_line="$(grep -E "^epoch ${epochs}/${epochs}:" "${work}/resumed.out" | tail -n 1)"
  python3 - "${json_dir}/app_${model}.json" "${model}" "${epochs}" "${stop_at}" "${trained}" \
    "${predicted}" "${wall_s}" "${epoch_line}" <<'PYTHON'
import json, re, sys
path, model, epochs, stop_at, trained, predicted, wall_s, epoch_line = sys.argv[1:]
m = re.search(r"accuracy ([0-9.]+)\s+([0-9]+) samples/s", epoch_line)
json.dump({"model": model, "epochs": int(epochs), "stopped_at_step": int(stop_at),
           "test_accuracy": float(trained) if trained else None,
           "predict_accuracy": float(predicted) if predicted else None,
           "last_epoch_train_accuracy": float(m.group(1)) if m else None,
           "last_epoch_samples_per_s": float(m.group(2)) if m else None,
           "train_wall_s": int(wall_s)}, open(path, "w"), indent=2)
PYTHON
  if [[ -z "${trained}" || "${trained}" != "${predicted}" ]]; then
    step_failed "${step}" "expected predict's accuracy to equal train's test accuracy ${trained:-(none printed)}, found ${predicted:-(none printed)}"
    return
  fi
  record "${step}" ok "test accuracy ${trained} (train and predict agree), ${wall_s} s"
}

main() {
  start_seconds=${SECONDS}
  parse_options "$@"
  mkdir -p "${build_dir}" "${log_dir}"
  echo "device_check: repository ${repo_root}, build ${build_dir}, output ${out_dir}"
  echo "device_check: $(uname -srm), $(nproc) CPUs, budget ${budget_s} s for starting steps"
  setup_bundle
  find_toolchain
  detect_gpu
  find_nccl
  configure
  build
  gpu_tests
  cpu_tests
  gpu_benchmarks
  main_job mlp 2 500
  main_job cnn 1 200
  finish
}

main "$@"
