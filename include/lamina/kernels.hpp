#pragma once
// lamina kernels: packed GEMM/GEMV, fused attention, softmax, norms, activations and RoPE on raw memory and tensor
// views. Kernels know nothing of layers or files.
#include "lamina/kernels/activation.hpp"
#include "lamina/kernels/attention.hpp"
#include "lamina/kernels/gemm.hpp"
#include "lamina/kernels/norm.hpp"
#include "lamina/kernels/quant/quant_gemm.hpp"
#include "lamina/kernels/rope.hpp"
#include "lamina/kernels/softmax.hpp"
#include "lamina/kernels/selective_scan.hpp"
