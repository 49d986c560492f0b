// Block-quantized weights: quantize → dequantize error bounds, the packed layout, and the integer kernels (AVX-512
// VNNI / AVX2 / scalar, whichever this build compiles) bit-exact against the scalar reference tile on awkward shapes.
#include "lamina/kernels/quant/quant_gemm.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace lamina;

namespace {

// Activations quantized as the kernels quantize them: one int8 plane, or two (q8 with int16 activations).
struct Activations {
    std::vector<std::int8_t> values, fine;
    std::vector<float> scales;
    std::vector<std::int32_t> sums;
    kernels::QuantizedRows rows;
    Activations(const std::vector<float>& x, std::int64_t M, std::int64_t K, bool two_planes)
        : values(std::size_t(M * ((K + 31) / 32) * 32)), fine(two_planes ? values.size() : 0),
          scales(std::size_t(M * ((K + 31) / 32))), sums(scales.size()),
          rows{values.data(), scales.data(), sums.data(), (K + 31) / 32, fine.empty() ? nullptr : fine.data()} {
        kernels::quantize_activations(TensorView<const float>(x.data(), {M, K}), rows);
    }
    float dequantized(std::int64_t m, std::int64_t k) const {
        const auto b = std::size_t(m * rows.blocks + k / 32), at = b * 32 + std::size_t(k % 32);
        const int units = fine.empty() ? values[at] : kFineSteps * values[at] + fine[at];
        return scales[b] * float(units);
    }
};

// The product the quantized kernels define, from the scalar reference tile only, one activation row at a time.
template <QuantFormat F>
std::vector<float> reference_product(const std::vector<float>& x, std::int64_t M, const QuantMatrix<F>& w) {
    const std::int64_t K = w.cols(), N = w.rows(), nb = w.blocks();
    const Activations a(x, M, K, kernels::fine_activations(w));
    std::vector<float> y(std::size_t(M * N));
    float tile[kernels::kQuantRows];
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t g = 0; g < w.groups(); ++g) {
            const std::int8_t* fine = a.fine.empty() ? nullptr : a.fine.data() + m * nb * kQuantBlock;
            kernels::detail::quant_tile_reference<F>(1, w.group(g), nb, a.values.data() + m * nb * kQuantBlock, fine,
                                                     a.scales.data() + m * nb, a.sums.data() + m * nb, nb, tile);
            for (int r = 0; r < kernels::kQuantRows && g * 16 + r < N; ++r) y[std::size_t(m * N + g * 16 + r)] = tile[r];
        }
    return y;
}

template <QuantFormat F>
void check_kernel_against_reference(std::int64_t M, std::int64_t K, std::int64_t N,
                                     QuantActivations act = QuantActivations::int8) {
    const auto x = test::random_vector(std::size_t(M * K), 1, -2.f, 2.f);
    const auto wf = test::random_vector(std::size_t(N * K), 2);
    const QuantMatrix<F> w(quantize(TensorView<const float>(wf.data(), {N, K}), F), act);
    std::vector<float> y(std::size_t(M * N), -1.f);
    kernels::gemm(TensorView<const float>(x.data(), {M, K}), w, TensorView<float>(y.data(), {M, N}));
    const auto expected = reference_product(x, M, w);
    INFO(quant_format_name(F) << " (" << quant_activations_name(act) << " activations) M=" << M << " K=" << K
                              << " N=" << N);
    REQUIRE(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("quantize → dequantize stays within half a step of every block", "[kernels][quant]") {
    for (const std::int64_t K : {1, 31, 32, 33, 95, 256}) {
        const std::int64_t N = 5;
        auto w = test::random_vector(std::size_t(N * K), 3, -3.f, 3.f);
        w[0] = 0.f;                                    // zero stays zero
        if (K >= 64) std::fill_n(w.begin() + 32, 32, 0.f);  // an all-zero block: scale 0, no NaN
        for (const QuantFormat f : {QuantFormat::q8, QuantFormat::q4}) {
            const QuantBlocks q = quantize(TensorView<const float>(w.data(), {N, K}), f);
            REQUIRE_NOTHROW(q.validate("test"));
            const int lo = f == QuantFormat::q8 ? -127 : -8, hi = f == QuantFormat::q8 ? 127 : 7;
            for (std::int64_t r = 0; r < N; ++r)
                for (std::int64_t k = 0; k < K; ++k) {
                    const float x = w[std::size_t(r * K + k)], d = std::fabs(q.scale(r, k));
                    INFO(quant_format_name(f) << " K=" << K << " (" << r << ", " << k << ") x=" << x);
                    REQUIRE(q.q(r, k) >= lo);
                    REQUIRE(q.q(r, k) <= hi);
                    // q4's range is one step short on the side opposite the block's extreme (+8 clamps to 7).
                    const bool clamped = f == QuantFormat::q4 && std::fabs(x) > 7.5f * d;
                    REQUIRE(std::fabs(q.dequantized(r, k) - x) <= (clamped ? 1.f : 0.5f) * d * (1 + 1e-6f) + 1e-7f);
                }
            CHECK(q.q(0, 0) == 0);
            // The extreme of each block is representable exactly: q8 at ±127, q4 at -8.
            for (std::int64_t b = 0; b < q.blocks_per_row(); ++b) {
                float m = 0.f;
                std::int64_t at = 0;
                for (std::int64_t k = b * 32; k < std::min(K, b * 32 + 32); ++k)
                    if (std::fabs(w[std::size_t(k)]) > std::fabs(m)) m = w[std::size_t(at = k)];
                if (m != 0.f) CHECK(q.q(0, at) == (f == QuantFormat::q8 ? (m > 0 ? 127 : -127) : -8));
            }
        }
    }
}

TEST_CASE("quantized kernels are bit-exact against the scalar reference tile", "[kernels][quant]") {
    for (const std::int64_t M : {1, 2, 3, 5, 8, 9, 17})
        for (const std::int64_t K : {1, 31, 32, 33, 100, 256})
            for (const std::int64_t N : {1, 15, 16, 17, 40}) {
                check_kernel_against_reference<QuantFormat::q8>(M, K, N);
                check_kernel_against_reference<QuantFormat::q8>(M, K, N, QuantActivations::int16);
                check_kernel_against_reference<QuantFormat::q4>(M, K, N);
            }
}

TEST_CASE("the reference tile computes the product of the dequantized operands", "[kernels][quant]") {
    // Independent of the tile arithmetic: Σ dequant(w)·dequant(a) in double from the canonical blocks.
    // Also checks the activation quantizer's bound: |a - dequant(a)| ≤ half a step (of the fine plane for q8, where
    // the rounding of x/step to float adds up to 1/100 of a fine unit).
    const std::int64_t M = 3, K = 77, N = 19;
    const auto x = test::random_vector(std::size_t(M * K), 4);
    const auto wf = test::random_vector(std::size_t(N * K), 5);
    const std::pair<QuantFormat, QuantActivations> cases[] = {{QuantFormat::q8, QuantActivations::int8},
                                                              {QuantFormat::q8, QuantActivations::int16},
                                                              {QuantFormat::q4, QuantActivations::int8}};
    for (const auto& [f, act] : cases) {
        const QuantBlocks q = quantize(TensorView<const float>(wf.data(), {N, K}), f);
        const bool two_planes = act == QuantActivations::int16;
        const Activations qa(x, M, K, two_planes);
        const float slack = two_planes ? 1.02f : 1 + 1e-6f;
        std::vector<float> got;
        if (f == QuantFormat::q8)
            got = reference_product(x, M, QuantMatrix<QuantFormat::q8>(q, act));
        else
            got = reference_product(x, M, QuantMatrix<QuantFormat::q4>(q));
        for (std::int64_t m = 0; m < M; ++m)
            for (std::int64_t k = 0; k < K; ++k)
                REQUIRE(std::fabs(qa.dequantized(m, k) - x[std::size_t(m * K + k)]) <=
                        0.5f * qa.scales[std::size_t(m * qa.rows.blocks + k / 32)] * slack);
        std::vector<float> expected(std::size_t(M * N)), exact_a(expected.size());
        for (std::int64_t m = 0; m < M; ++m)
            for (std::int64_t n = 0; n < N; ++n) {
                double s = 0, e = 0;
                for (std::int64_t k = 0; k < K; ++k) {
                    s += double(q.dequantized(n, k)) * qa.dequantized(m, k);
                    e += double(q.dequantized(n, k)) * x[std::size_t(m * K + k)];
                }
                expected[std::size_t(m * N + n)] = float(s);
                exact_a[std::size_t(m * N + n)] = float(e);
            }
        INFO(quant_format_name(f) << ", " << quant_activations_name(act) << " activations");
        CHECK(test::relative_error(got, expected) <= 1e-5);
        // Against exact activations: one plane is off by its rounding, two planes by ~1/254 of it.
        const double off = test::relative_error(got, exact_a);
        CHECK(off <= (two_planes ? 1e-4 : 1e-2));
        if (!two_planes) CHECK(off >= 1e-4);
    }
}

TEST_CASE("quantized GEMM: decode rows equal prefill rows, thread count changes nothing, epilogues apply",
          "[kernels][quant]") {
    const std::int64_t M = 13, K = 160, N = 75;
    const auto x = test::random_vector(std::size_t(M * K), 6);
    const auto wf = test::random_vector(std::size_t(N * K), 7);
    const auto bias = test::random_vector(std::size_t(N), 8);
    const QuantMatrix<QuantFormat::q4> w4(quantize(TensorView<const float>(wf.data(), {N, K}), QuantFormat::q4));
    const QuantMatrix<QuantFormat::q8> w8(quantize(TensorView<const float>(wf.data(), {N, K}), QuantFormat::q8),
                                          QuantActivations::int16);
    const auto check = [&](const auto& w) {
        const TensorView<const float> xv(x.data(), {M, K});
        std::vector<float> y1(std::size_t(M * N)), y2(y1.size()), row(y1.size() / std::size_t(M));
        ThreadPool pool(2);
        kernels::gemm(xv, w, TensorView<float>(y1.data(), {M, N}));
        kernels::gemm(xv, w, TensorView<float>(y2.data(), {M, N}), {}, &pool);
        CHECK(y1 == y2);
        for (std::int64_t m = 0; m < M; ++m) {
            kernels::gemv(std::span(x).subspan(std::size_t(m * K), std::size_t(K)), w, row, {}, &pool);
            CHECK(std::equal(row.begin(), row.end(), y1.begin() + m * N));
        }
        // bias + activation, and accumulate (y += x·Wᵀ, then + b, as the f32 epilogue orders it).
        std::vector<float> act(y1.size()), acc(y1.size(), 1.f);
        kernels::gemm(xv, w, TensorView<float>(act.data(), {M, N}), {bias.data(), Activation::relu, false}, &pool);
        kernels::gemm(xv, w, TensorView<float>(acc.data(), {M, N}), {bias.data(), Activation::identity, true});
        for (std::int64_t i = 0; i < M * N; ++i) {
            const float z = y1[std::size_t(i)] + bias[std::size_t(i % N)];
            REQUIRE(act[std::size_t(i)] == std::max(z, 0.f));
            REQUIRE(acc[std::size_t(i)] == (1.f + y1[std::size_t(i)]) + bias[std::size_t(i % N)]);
        }
    };
    check(w4);
    check(w8);
}

TEST_CASE("quantized GEMM tracks the f32 product", "[kernels][quant]") {
    const std::int64_t M = 4, K = 512, N = 64;
    const auto x = test::random_vector(std::size_t(M * K), 9);
    const auto wf = test::random_vector(std::size_t(N * K), 10);
    const TensorView<const float> xv(x.data(), {M, K});
    std::vector<float> ref(std::size_t(M * N)), y(ref.size());
    kernels::gemm(xv, PackedMatrix<float>(TensorView<const float>(wf.data(), {N, K})), TensorView<float>(ref.data(), {M, N}));
    kernels::gemm(xv, QuantMatrix<QuantFormat::q8>(quantize(TensorView<const float>(wf.data(), {N, K}), QuantFormat::q8)),
                  TensorView<float>(y.data(), {M, N}));
    CHECK(test::relative_error(y, ref) <= 0.02);
    kernels::gemm(xv, QuantMatrix<QuantFormat::q4>(quantize(TensorView<const float>(wf.data(), {N, K}), QuantFormat::q4)),
                  TensorView<float>(y.data(), {M, N}));
    CHECK(test::relative_error(y, ref) <= 0.15);
}

TEST_CASE("quantized matrices reject bad blocks and shapes", "[kernels][quant][errors]") {
    const auto wf = test::random_vector(64 * 3, 11);
    QuantBlocks q = quantize(TensorView<const float>(wf.data(), {3, 64}), QuantFormat::q8);
    QuantBlocks nan_scale = q;
    nan_scale.scales[4] = std::nanf("");
    REQUIRE_THROWS_WITH(QuantMatrix<QuantFormat::q8>(nan_scale), Catch::Contains("scale 4 (row 2, block 0) is nan"));
    QuantBlocks short_scales = q;
    short_scales.scales.pop_back();
    REQUIRE_THROWS_WITH(QuantMatrix<QuantFormat::q8>(short_scales), Catch::Contains("5 scales, expected 6"));
    REQUIRE_THROWS_WITH(QuantMatrix<QuantFormat::q4>(q), Catch::Contains("got q8 blocks"));
    REQUIRE_THROWS_WITH(QuantMatrix<QuantFormat::q4>(quantize(TensorView<const float>(wf.data(), {3, 64}), QuantFormat::q4),
                                                     QuantActivations::int16),
                        Catch::Contains("int16 activations apply to q8 weights only"));
    const QuantMatrix<QuantFormat::q8> w(q);
    std::vector<float> x(63), y(3);
    REQUIRE_THROWS_WITH(kernels::gemv(x, w, y), Catch::Contains("x has 63 columns but the weights expect K=64"));
}
