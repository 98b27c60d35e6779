// CBLAS: OpenBLAS's cblas.h plus the thread-count controls, for Swift.
// The shim exists because the modulemap must name one header, and we want
// OpenBLAS's own prototypes (openblas_set_num_threads) next to cblas_*.
#pragma once
#include <cblas.h>
