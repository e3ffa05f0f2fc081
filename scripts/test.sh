#!/usr/bin/env bash
# Set up, build and run Ember's whole test suite: the release build (with the
# conformance tests against llama.cpp) and the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    release build only (no sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) echo "test.sh: unknown option '$a' (known: --quick)" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "$quick" = 0 ]; then
  # The NEON kernels: core/ cross-built for 64-bit Arm and its kernel tests
  # run under qemu-user, as a Cortex-A53 and as a Cortex-A76 (see
  # CMakeLists.txt, EMBER_CORE_ONLY).
  cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DEMBER_CORE_ONLY=ON >/dev/null
  cmake --build build-arm64 -j"$jobs"
  ctest --test-dir build-arm64 --output-on-failure -j"$jobs"

  # Sanitizers: the C tests (fuzzed GGUF files, kernels, tokenizers, decoder);
  # the peer-driven conformance tests are left to the release pass above.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEMBER_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  # With leaks checked, no Vulkan driver is offered (VK_DRIVER_FILES names
  # none): commands on the default backend probe for a GPU, and lavapipe (as
  # Debian's mesa-vulkan-drivers 22.3.6-1+deb12u2 was seen to, where earlier
  # CI machines' did not) keeps 128 bytes from a one-time init in
  # vkEnumeratePhysicalDevices, unloaded before LeakSanitizer looks (below).
  # Here they take the CPU, as on a machine without a Vulkan driver.
  VK_DRIVER_FILES=/nonexistent/no-driver.json VK_ICD_FILENAMES=/nonexistent/no-driver.json \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'peer|vulkan|big'
  # The Vulkan tests: every memory error is still caught, but not leaks. The
  # driver (lavapipe's LLVM) and the validation layer keep allocations for the
  # life of the process and are unloaded at vkDestroyInstance, after which
  # LeakSanitizer can neither name nor suppress them.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -L vulkan -LE 'peer|big'
fi
