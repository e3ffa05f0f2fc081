/* cpu_kernels_neon_dotprod.c - the NEON kernels again, built with +dotprod
 * (core/cpu/CMakeLists.txt): cpu_kernels_neon.c's int8 block sums become
 * SDOT instructions, and its table is named "neon-dotprod". */
#include "cpu_kernels_neon.c"
