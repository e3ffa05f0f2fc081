/* cpu_kernels_avx512.c - AVX-512 (F/BW/VL/DQ/VNNI) kernels. */
#include <immintrin.h>

#include "cpu_kernels_impl.h"

void cpu_kernels_init_avx512(cpu_kernels *k) { k->isa = "avx512"; }
