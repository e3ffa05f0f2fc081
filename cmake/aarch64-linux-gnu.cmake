# Cross build for 64-bit Arm (Debian's gcc-aarch64-linux-gnu), run under
# qemu-user: scripts/test.sh builds core/ with it (EMBER_CORE_ONLY) and runs
# the kernel tests on an emulated Cortex-A53 (ARMv8.0: baseline NEON) and on
# QEMU's "max" CPU (dotprod, fp16 arithmetic), so every NEON variant runs
# against the scalar reference on an x86 machine.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# ctest runs each test through this; QEMU_CPU (environment) picks the CPU.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu)
