// CBLAS: OpenBLAS's cblas.h plus the thread-count controls, for Swift.
// The shim exists because the modulemap must name one header, and we want
// OpenBLAS's own prototypes (openblas_set_num_threads) next to cblas_*.
#pragma once
#include <cblas.h>

// What the CPU can run, for choosing OpenBLAS's kernels (see NNCore's BLASKernel).
static inline int nntrain_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
static inline int nntrain_cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
