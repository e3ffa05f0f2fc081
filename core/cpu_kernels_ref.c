/* cpu_kernels_ref.c - stub (to be written): the portable reference kernels. */
#include "cpu_kernels.h"
