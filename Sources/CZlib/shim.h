// CZlib: zlib for reading .gz datasets (gzopen/gzread handle both gzip and raw files).
#pragma once
#include <zlib.h>
