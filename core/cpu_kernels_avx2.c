/* cpu_kernels_avx2.c - AVX2 + FMA + F16C kernels. */
#include <immintrin.h>

#include "cpu_kernels_impl.h"

void cpu_kernels_init_avx2(cpu_kernels *k) { k->isa = "avx2"; }
