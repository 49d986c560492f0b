#pragma once
// lamina core: errors, dtypes, tensor views, aligned memory, the scratch arena and the thread pool.
#include "lamina/core/aligned.hpp"
#include "lamina/core/arena.hpp"
#include "lamina/core/convert.hpp"
#include "lamina/core/dtype.hpp"
#include "lamina/core/eigen_interop.hpp"
#include "lamina/core/error.hpp"
#include "lamina/core/simd.hpp"
#include "lamina/core/serialize.hpp"
#include "lamina/core/tensor.hpp"
#include "lamina/core/thread_pool.hpp"
