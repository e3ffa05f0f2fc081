/* cpu_quant_neon_dotprod.c - cpu_quant_neon.c's dots again, built with
 * +dotprod (core/cpu/CMakeLists.txt): their int8 sums become SDOT. */
#include "cpu_quant_neon.c"
