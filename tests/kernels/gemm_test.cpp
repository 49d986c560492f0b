// Packed GEMM / GEMV against a double-precision scalar reference over awkward shapes (1, 3, 17, not multiples of
// the register tile, larger than every cache block), both weight dtypes, every epilogue and several thread counts.
#include "lamina/kernels/gemm.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <tuple>

using namespace lamina;

namespace {

double reference_activation(Activation a, double v) {
    switch (a) {
        case Activation::identity: return v;
        case Activation::relu: return v > 0 ? v : 0;
        case Activation::gelu_tanh: return 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
        case Activation::gelu_erf: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
        case Activation::silu: return v / (1 + std::exp(-v));
    }
    return v;
}

// y = act(x·Wᵀ + b) (+ y0) with W as the kernel sees it (after rounding to its storage dtype).
template <class WT>
std::vector<float> reference_gemm(const std::vector<float>& x, const PackedMatrix<WT>& w, int M, const Epilogue& ep,
                                  const std::vector<float>& y0) {
    const auto K = w.cols(), N = w.rows();
    std::vector<float> y(std::size_t(M * N));
    for (int m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; ++n) {
            double s = ep.bias ? ep.bias[n] : 0.0;
            for (std::int64_t k = 0; k < K; ++k) s += double(x[m * K + k]) * w.at(n, k);
            s = reference_activation(ep.activation, s);
            y[m * N + n] = float(ep.accumulate ? s + y0[m * N + n] : s);
        }
    return y;
}

template <class WT>
void check_gemm(int M, int K, int N, const Epilogue& ep, ThreadPool* pool) {
    const auto xs = test::random_vector(std::size_t(M) * K, 1u + M);
    const auto ws = test::random_vector(std::size_t(N) * K, 2u + N);
    const PackedMatrix<WT> w(TensorView<const float>(ws.data(), {N, K}));
    auto y = test::random_vector(std::size_t(M) * N, 3u);
    const auto y0 = y;
    kernels::gemm(TensorView<const float>(xs.data(), {M, K}), w, TensorView<float>(y.data(), {M, N}), ep, pool);
    const auto ref = reference_gemm(xs, w, M, ep, y0);
    INFO("M=" << M << " K=" << K << " N=" << N << " dtype=" << dtype_name(dtype_v<WT>)
              << " act=" << activation_name(ep.activation) << " accumulate=" << ep.accumulate
              << " threads=" << (pool ? pool->size() : 1));
    CHECK(test::relative_error(y, ref) <= 2e-6 * std::sqrt(double(K)));
}

}  // namespace

TEST_CASE("PackedMatrix keeps every weight, from either source layout", "[gemm]") {
    const int N = 37, K = 19;
    const auto ws = test::random_vector(std::size_t(N) * K, 7);
    std::vector<float> transposed(ws.size());
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) transposed[std::size_t(k) * N + n] = ws[std::size_t(n) * K + k];
    const PackedMatrix<float> a(TensorView<const float>(ws.data(), {N, K}));
    const PackedMatrix<float> b(TensorView<const float>(transposed.data(), {K, N}), WeightLayout::in_out);
    const PackedMatrix<bf16> c(TensorView<const float>(ws.data(), {N, K}));
    REQUIRE(a.rows() == N);
    REQUIRE(a.cols() == K);
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) {
            REQUIRE(a.at(n, k) == ws[std::size_t(n) * K + k]);
            REQUIRE(b.at(n, k) == ws[std::size_t(n) * K + k]);
            REQUIRE(c.at(n, k) == to_float(to_bf16(ws[std::size_t(n) * K + k])));
        }
}

TEST_CASE("gemm matches the scalar reference on awkward shapes", "[gemm]") {
    const std::tuple<int, int, int> shapes[] = {
        {1, 1, 1},    {1, 17, 3},   {1, 300, 100}, {2, 3, 17},     {3, 17, 33},    {5, 64, 64},
        {13, 31, 47}, {17, 257, 65}, {25, 513, 40}, {200, 70, 2100}, {kernels::kMC + 7, 300, 70},
    };
    for (auto [M, K, N] : shapes) {
        check_gemm<float>(M, K, N, {}, nullptr);
        check_gemm<bf16>(M, K, N, {}, nullptr);
    }
}

TEST_CASE("gemm epilogues: bias, every activation, accumulation", "[gemm]") {
    const int N = 45;
    const auto bias = test::random_vector(N, 11);
    for (int M : {1, 7, 30}) {
        for (auto act : {Activation::identity, Activation::relu, Activation::gelu_tanh, Activation::gelu_erf,
                         Activation::silu}) {
            check_gemm<float>(M, 40, N, {bias.data(), act, false}, nullptr);
            check_gemm<bf16>(M, 40, N, {nullptr, act, false}, nullptr);
        }
        check_gemm<float>(M, 300, N, {bias.data(), Activation::identity, true}, nullptr);
        check_gemm<bf16>(M, 40, N, {nullptr, Activation::identity, true}, nullptr);
    }
}

TEST_CASE("gemm results do not depend on the thread count", "[gemm][threads]") {
    const int M = 29, K = 300, N = 300;
    const auto xs = test::random_vector(std::size_t(M) * K, 5);
    const auto ws = test::random_vector(std::size_t(N) * K, 6);
    const PackedMatrix<float> w(TensorView<const float>(ws.data(), {N, K}));
    for (int m : {1, M}) {
        std::vector<float> serial(std::size_t(m) * N);
        kernels::gemm(TensorView<const float>(xs.data(), {m, K}), w, TensorView<float>(serial.data(), {m, N}));
        for (int threads : {2, 3, 4}) {
            ThreadPool pool(threads);
            std::vector<float> y(serial.size());
            kernels::gemm(TensorView<const float>(xs.data(), {m, K}), w, TensorView<float>(y.data(), {m, N}), {},
                          &pool);
            REQUIRE(y == serial);  // bit-identical: threads split N, never K
            check_gemm<bf16>(m, K, N, {}, &pool);
        }
    }
}

TEST_CASE("gemm streams few rows (M <= kStreamRows) in row groups, odd K and N, every epilogue", "[gemm]") {
    // M = 2..16 covers one and two row groups and every accumulator-chain count; K below, at and past the
    // interleave of k-steps; N a partial panel and several.
    const std::tuple<int, int> kn[] = {{1, 33}, {3, 7}, {37, 67}, {255, 33}};
    const auto bias = test::random_vector(67, 12);
    ThreadPool pool(2);
    for (int M = 2; M <= int(kernels::kStreamRows); ++M)
        for (auto [K, N] : kn) {
            check_gemm<float>(M, K, N, {}, nullptr);
            check_gemm<bf16>(M, K, N, {}, nullptr);
            check_gemm<float>(M, K, N, {bias.data(), Activation::silu, false}, &pool);
            check_gemm<bf16>(M, K, N, {bias.data(), Activation::gelu_tanh, false}, nullptr);
            check_gemm<float>(M, K, N, {nullptr, Activation::identity, true}, nullptr);
            check_gemm<bf16>(M, K, N, {bias.data(), Activation::identity, true}, &pool);
        }
}

TEST_CASE("gemm over few rows does not depend on the thread count", "[gemm][threads]") {
    const int K = 129, N = 161;
    const auto xs = test::random_vector(std::size_t(kernels::kStreamRows) * K, 13);
    const auto ws = test::random_vector(std::size_t(N) * K, 14);
    const auto bias = test::random_vector(N, 15);
    const PackedMatrix<float> wf(TensorView<const float>(ws.data(), {N, K}));
    const PackedMatrix<bf16> wb(TensorView<const float>(ws.data(), {N, K}));
    ThreadPool pool(2);
    auto both = [&](const auto& w, int M, const Epilogue& ep) {
        std::vector<float> one(std::size_t(M) * N, 0.5f), two = one;
        kernels::gemm(TensorView<const float>(xs.data(), {M, K}), w, TensorView<float>(one.data(), {M, N}), ep);
        kernels::gemm(TensorView<const float>(xs.data(), {M, K}), w, TensorView<float>(two.data(), {M, N}), ep, &pool);
        INFO("M=" << M);
        REQUIRE(one == two);
    };
    for (int M = 1; M <= int(kernels::kStreamRows); ++M) {
        both(wf, M, {bias.data(), Activation::relu, false});
        both(wb, M, {nullptr, Activation::identity, true});
    }
}

TEST_CASE("gemm on strided views writes only its block", "[gemm]") {
    const int M = 14, K = 20, N = 33, ldx = 25, ldy = 40;
    auto xs = test::random_vector(std::size_t(M) * ldx, 8);
    const auto ws = test::random_vector(std::size_t(N) * K, 9);
    const PackedMatrix<float> w(TensorView<const float>(ws.data(), {N, K}));
    std::vector<float> y(std::size_t(M) * ldy, -7.f);
    kernels::gemm(TensorView<const float>::matrix(xs.data(), M, K, ldx), w,
                  TensorView<float>::matrix(y.data(), M, N, ldy));
    for (int m = 0; m < M; ++m) {
        for (int n = 0; n < N; ++n) {
            double s = 0;
            for (int k = 0; k < K; ++k) s += double(xs[std::size_t(m) * ldx + k]) * ws[std::size_t(n) * K + k];
            REQUIRE(std::fabs(y[std::size_t(m) * ldy + n] - s) <= 1e-5);
        }
        for (int n = N; n < ldy; ++n) REQUIRE(y[std::size_t(m) * ldy + n] == -7.f);
    }
}

TEST_CASE("gemm rejects mismatched shapes with a lamina::Error", "[gemm][errors]") {
    const auto ws = test::random_vector(12, 1);
    const PackedMatrix<float> w(TensorView<const float>(ws.data(), {3, 4}));
    std::vector<float> x(10), y(10);
    REQUIRE_THROWS_WITH(kernels::gemm(TensorView<const float>(x.data(), {2, 5}), w, TensorView<float>(y.data(), {2, 3})),
                        Catch::Contains("x has 5 columns but the weights expect K=4"));
    REQUIRE_THROWS_AS(kernels::gemm(TensorView<const float>(x.data(), {2, 4}), w, TensorView<float>(y.data(), {2, 2})),
                      Error);
    REQUIRE_THROWS_AS(kernels::gemm(TensorView<const float>(x.data(), {2, 4}), w, TensorView<float>(y.data(), {2, 3}),
                                    {nullptr, Activation::relu, true}),
                      Error);
    std::vector<float> empty;
    REQUIRE_THROWS_AS(PackedMatrix<float>(TensorView<const float>(empty.data(), {0, 4})), Error);
}
