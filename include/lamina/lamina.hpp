#pragma once
// lamina: header-only transformer inference for CPUs. Include this one header for everything.
#include "lamina/core.hpp"
#include "lamina/io.hpp"
#include "lamina/kernels.hpp"
#include "lamina/layers.hpp"
#include "lamina/models.hpp"
#include "lamina/generate.hpp"
