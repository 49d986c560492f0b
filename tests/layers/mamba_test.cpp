// Mamba token mixers: the recurrent kernels against scalar references written from their definitions, whole Mamba
// and Mamba-2 models against PyTorch (tests/reference/mamba.py), and the invariants of a recurrent state — any
// chunking of the input gives the result of one pass, and a copied state continues exactly like the original.
#include "lamina/layers/mamba.hpp"
#include "lamina/models/model.hpp"
#include "model_fixture.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using namespace lamina;

namespace {

constexpr std::int64_t W = std::int64_t(simd::kWidth);

double softplus_ref(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }
double silu_ref(double x) { return x / (1 + std::exp(-x)); }

// A [rows, cols] matrix stored with `pad` extra floats per row, so kernels see a strided view.
struct Strided {
    std::int64_t rows, cols, ld;
    std::vector<float> data;
    Strided(std::int64_t r, std::int64_t c, std::uint32_t seed, float lo = -1.f, float hi = 1.f, std::int64_t pad = 3)
        : rows(r), cols(c), ld(c + pad), data(test::random_vector(std::size_t(r * (c + pad)), seed, lo, hi)) {}
    float operator()(std::int64_t i, std::int64_t j) const { return data[std::size_t(i * ld + j)]; }
    TensorView<float> view(std::int64_t r0 = 0, std::int64_t n = -1) {
        return TensorView<float>::matrix(data.data() + r0 * ld, n < 0 ? rows : n, cols, ld);
    }
};

// Causal depthwise conv from its definition: y[t,c] = silu(b[c] + Σ_k w[c,k]·s[t+k, c]), s = [state; x].
std::vector<double> conv_ref(const Strided& x, const std::vector<float>& w, const std::vector<float>& b,
                             std::vector<double>& state, std::int64_t K) {
    const std::int64_t T = x.rows, C = x.cols;
    std::vector<double> s(state);
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t c = 0; c < C; ++c) s.push_back(x(t, c));
    std::vector<double> y(std::size_t(T * C));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t c = 0; c < C; ++c) {
            double acc = b[std::size_t(c)];
            for (std::int64_t k = 0; k < K; ++k) acc += w[std::size_t(c * K + k)] * s[std::size_t((t + k) * C + c)];
            y[std::size_t(t * C + c)] = silu_ref(acc);
        }
    state.assign(s.end() - (K - 1) * C, s.end());
    return y;
}

// The Mamba-1 recurrence as HF's slow_forward writes it, one channel and one state index at a time.
std::vector<double> scan_ref(const Strided& u, const Strided& delta, const std::vector<float>& A_log, const Strided& B,
                             const Strided& C, const std::vector<float>& D, const Strided& z, std::vector<double>& h) {
    const std::int64_t T = u.rows, E = u.cols, N = B.cols;
    std::vector<double> y(std::size_t(T * E));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t e = 0; e < E; ++e) {
            const double dt = softplus_ref(delta(t, e));
            double acc = 0;
            for (std::int64_t n = 0; n < N; ++n) {
                double& hn = h[std::size_t(e * N + n)];
                hn = std::exp(-std::exp(double(A_log[std::size_t(e * N + n)])) * dt) * hn + dt * B(t, n) * u(t, e);
                acc += hn * C(t, n);
            }
            y[std::size_t(t * E + e)] = (acc + D[std::size_t(e)] * u(t, e)) * silu_ref(z(t, e));
        }
    return y;
}

// The Mamba-2 recurrence: one decay per head, B and C of the head's group.
std::vector<double> ssd_ref(const kernels::SsdShape& s, const Strided& x, const Strided& dt,
                            const std::vector<float>& dt_bias, const std::vector<float>& A_log, const Strided& B,
                            const Strided& C, const std::vector<float>& D, std::vector<double>& h) {
    const std::int64_t T = x.rows, P = s.head_dim, N = s.d_state;
    std::vector<double> y(std::size_t(T * s.heads * P));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t hd = 0; hd < s.heads; ++hd) {
            const std::int64_t g = hd / (s.heads / s.groups);
            const double delta = softplus_ref(double(dt(t, hd)) + dt_bias[std::size_t(hd)]);
            const double decay = std::exp(delta * -std::exp(double(A_log[std::size_t(hd)])));
            for (std::int64_t p = 0; p < P; ++p) {
                const std::int64_t r = hd * P + p;
                double acc = 0;
                for (std::int64_t n = 0; n < N; ++n) {
                    double& hn = h[std::size_t(r * N + n)];
                    hn = decay * hn + delta * B(t, g * N + n) * x(t, r);
                    acc += hn * C(t, g * N + n);
                }
                y[std::size_t(t * s.heads * P + r)] = acc + D[std::size_t(hd)] * x(t, r);
            }
        }
    return y;
}

std::vector<float> rows_of(const Strided& m) {
    std::vector<float> out;
    for (std::int64_t i = 0; i < m.rows; ++i)
        for (std::int64_t j = 0; j < m.cols; ++j) out.push_back(m(i, j));
    return out;
}

double rel_err(const std::vector<float>& got, const std::vector<double>& ref) {
    return test::relative_error(got, std::vector<float>(ref.begin(), ref.end()));
}

}  // namespace

TEST_CASE("causal_conv1d matches the definition across calls, strides and threads", "[mamba][kernels]") {
    ThreadPool pool(3);
    for (auto [C, K, T] : {std::array<std::int64_t, 3>{1, 1, 3}, {5, 4, 6}, {W + 3, 4, 2}, {3 * W - 1, 3, 9}}) {
        INFO("C=" << C << " K=" << K << " T=" << T);
        Strided x(T, C, 1);
        const auto w = test::random_vector(std::size_t(C * K), 2), b = test::random_vector(std::size_t(C), 3);
        const auto init = test::random_vector(std::size_t((K - 1) * C), 4);
        std::vector<double> ref_state(init.begin(), init.end());
        const auto ref = conv_ref(x, w, b, ref_state, K);

        // Two calls (a split at t = 1, shorter than the kernel when K > 2) on strided rows, then one threaded call.
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Arena arena(kernels::causal_conv1d_scratch_bytes(C, K));
            std::vector<float> state = init;
            Strided y(T, C, 5);
            const TensorView<float> sv(state.data(), {K - 1, C});
            const TensorView<const float> wv(w.data(), {C, K});
            const std::int64_t split = p ? T : 1;
            kernels::causal_conv1d(x.view(0, split), wv, b, sv, y.view(0, split), Activation::silu, arena, p);
            if (split < T)
                kernels::causal_conv1d(x.view(split, T - split), wv, b, sv, y.view(split, T - split), Activation::silu,
                                       arena, p);
            CHECK(rel_err(rows_of(y), ref) <= 1e-6);
            CHECK(rel_err(state, ref_state) <= 1e-7);
            CHECK(y.data[std::size_t(C)] == Strided(T, C, 5).data[std::size_t(C)]);  // row padding untouched
        }
    }
}

TEST_CASE("selective_scan matches the Mamba-1 recurrence on awkward sizes", "[mamba][kernels]") {
    ThreadPool pool(3);
    // T = 150: several of the kernel's 64-token tiles, the last one partial.
    for (auto [E, N, T] : {std::array<std::int64_t, 3>{1, 1, 1}, {5, 3, 4}, {W + 1, 16, 9}, {2 * W + 5, 19, 7},
                           {3 * W + 2, 5, 150}}) {
        INFO("E=" << E << " N=" << N << " T=" << T);
        Strided u(T, E, 10), delta(T, E, 11, -4.f, 3.f), B(T, N, 12), C(T, N, 13), z(T, E, 14, -3.f, 3.f);
        delta.data[0] = 25.f;  // above softplus's threshold of 20
        const auto A_log = test::random_vector(std::size_t(E * N), 15, -1.f, 2.f);
        const auto D = test::random_vector(std::size_t(E), 16, 0.5f, 1.5f);
        const auto init = test::random_vector(std::size_t(E * N), 17);
        std::vector<double> ref_state(init.begin(), init.end());
        const auto ref = scan_ref(u, delta, A_log, B, C, D, z, ref_state);

        std::vector<std::vector<float>> outputs;
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Arena arena(kernels::selective_scan_scratch_bytes(E, N));
            std::vector<float> state = init;
            Strided y(T, E, 18);
            const TensorView<float> sv(state.data(), {E, N});
            const TensorView<const float> av(A_log.data(), {E, N});
            // Token by token without threads (the decode step), one call with them.
            const std::int64_t step = p ? T : 1;
            for (std::int64_t t = 0; t < T; t += step)
                kernels::selective_scan(u.view(t, step), delta.view(t, step), av, B.view(t, step), C.view(t, step), D,
                                        z.view(t, step), y.view(t, step), sv, arena, p);
            CHECK(rel_err(rows_of(y), ref) <= 1e-5);
            CHECK(rel_err(state, ref_state) <= 1e-5);
            outputs.push_back(rows_of(y));
        }
        CHECK(outputs[0] == outputs[1]);  // neither chunking nor threads change a bit

        // In place: y may be u.
        Arena arena(kernels::selective_scan_scratch_bytes(E, N));
        std::vector<float> state = init;
        Strided in_place = u;
        kernels::selective_scan(in_place.view(), delta.view(), TensorView<const float>(A_log.data(), {E, N}), B.view(),
                                C.view(), D, z.view(), in_place.view(), TensorView<float>(state.data(), {E, N}), arena);
        CHECK(rows_of(in_place) == outputs[1]);
    }
}

TEST_CASE("ssd_scan matches the Mamba-2 recurrence on awkward sizes", "[mamba][kernels]") {
    ThreadPool pool(3);
    // Lengths for the recurrence, the chunked form with one partial chunk, and several chunks with a partial one.
    const std::int64_t chunked = kernels::kSsdChunkedFrom, chunks = 2 * kernels::kSsdChunk + 5;
    for (auto s : {kernels::SsdShape{1, 1, 1, 1}, kernels::SsdShape{3, 5, 1, 7}, kernels::SsdShape{4, 3, 2, W + 3},
                   kernels::SsdShape{6, 4, 3, 2 * W}, kernels::SsdShape{2, 2 * W + 5, 1, kernels::kMR + 1}})
        for (std::int64_t T : {std::int64_t(6), chunked, chunks}) {
            const std::int64_t HP = s.heads * s.head_dim, GN = s.groups * s.d_state;
            INFO("heads=" << s.heads << " head_dim=" << s.head_dim << " groups=" << s.groups << " d_state=" << s.d_state
                          << " T=" << T);
            Strided x(T, HP, 20), dt(T, s.heads, 21, -4.f, 2.f), B(T, GN, 22), C(T, GN, 23);
            dt.data[0] = 30.f;
            const auto dt_bias = test::random_vector(std::size_t(s.heads), 24);
            const auto A_log = test::random_vector(std::size_t(s.heads), 25);
            const auto D = test::random_vector(std::size_t(s.heads), 26);
            const auto init = test::random_vector(std::size_t(HP * s.d_state), 27);
            std::vector<double> ref_state(init.begin(), init.end());
            const auto ref = ssd_ref(s, x, dt, dt_bias, A_log, B, C, D, ref_state);
            Arena arena(kernels::ssd_scan_scratch_bytes(s, T));

            // In one call and in two (chunked + chunked, chunked + recurrence when T is long), on 1 and 3 threads.
            for (std::int64_t split : {T, T / 2 + 1, T - 5}) {
                std::vector<std::vector<float>> outputs;
                for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                    std::vector<float> state = init;
                    Strided y(T, HP, 28);
                    const TensorView<float> sv(state.data(), {HP, s.d_state});
                    kernels::ssd_scan(s, x.view(0, split), dt.view(0, split), dt_bias, A_log, B.view(0, split),
                                      C.view(0, split), D, y.view(0, split), sv, arena, p);
                    if (split < T)
                        kernels::ssd_scan(s, x.view(split, T - split), dt.view(split, T - split), dt_bias, A_log,
                                          B.view(split, T - split), C.view(split, T - split), D, y.view(split, T - split),
                                          sv, arena, p);
                    CHECK(rel_err(rows_of(y), ref) <= 1e-5);
                    CHECK(rel_err(state, ref_state) <= 1e-5);
                    outputs.push_back(rows_of(y));
                }
                CHECK(outputs[0] == outputs[1]);
            }
        }
}

TEST_CASE("SSM kernels reject inconsistent shapes", "[mamba][kernels][errors]") {
    Arena arena(1 << 16);
    std::vector<float> buf(4096, 0.f);
    const auto m = [&](std::int64_t r, std::int64_t c) { return TensorView<float>(buf.data(), {r, c}); };
    const std::vector<float> v8(8, 0.f);
    CHECK_THROWS_WITH(kernels::causal_conv1d(m(4, 8), m(8, 4), v8, m(2, 8), m(4, 8), Activation::silu, arena),
                      Catch::Contains("causal_conv1d: state must be a [3, 8] matrix"));
    CHECK_THROWS_WITH(kernels::selective_scan(m(4, 8), m(4, 8), m(8, 5), m(4, 5), m(4, 6), v8, m(4, 8), m(4, 8),
                                              m(8, 5), arena),
                      Catch::Contains("selective_scan: C must be a [4, 5] matrix"));
    CHECK_THROWS_WITH(kernels::ssd_scan({4, 2, 3, 5}, m(4, 8), m(4, 4), v8, v8, m(4, 15), m(4, 15), v8, m(4, 8),
                                        m(8, 5), arena),
                      Catch::Contains("heads a multiple of groups"));
}

namespace {

using MambaArch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba, NoFfn>>, RmsNorm>;
using Mamba2Arch = DecoderOnly<TokenEmbedding, Repeat<Block<PreNorm, RmsNorm, Mamba2, NoFfn>>, RmsNorm>;

template <class Arch>
void check_model(const std::string& fixture) {
    const test::FixtureSource src(fixture);
    const Model<Arch> model(src.config(), src);
    const auto ids = src.ids("input_ids");
    const auto expected = src.read("expected_logits", {});
    const std::int64_t T = std::int64_t(ids.size()), V = model.config().vocab_size;
    ThreadPool pool(2);
    INFO(fixture);

    const auto full = test::logits_of(model, ids, 64, &pool);
    CHECK(test::relative_error(full, expected) <= 1e-4);

    // Decoding token by token and prefilling in chunks of 5 carry the conv and SSM state across calls.
    CHECK(test::relative_error(test::logits_of(model, ids, 1), full) <= 1e-5);
    CHECK(test::relative_error(test::logits_of(model, ids, 5, &pool), full) <= 1e-5);

    // A session copied mid-sequence continues exactly as the original; the copy runs first, so state shared
    // between the two would corrupt the original's continuation.
    const std::int64_t cut = 5, rest = T - cut;
    auto session = model.session(4);
    std::vector<float> head(std::size_t(cut * V)), a(std::size_t(rest * V)), b(std::size_t(rest * V));
    model.forward(session, std::span(ids).first(std::size_t(cut)), TensorView<float>(head.data(), {cut, V}));
    auto fork = session;
    const auto tail = std::span(ids).subspan(std::size_t(cut));
    model.forward(fork, tail, TensorView<float>(b.data(), {rest, V}));
    model.forward(session, tail, TensorView<float>(a.data(), {rest, V}));
    CHECK(a == b);
    CHECK(test::relative_error(a.data(), full.data() + cut * V, std::size_t(rest * V)) <= 1e-5);

    // reset() empties the state: the sequence replays to the same logits.
    session.reset();
    model.forward(session, std::span(ids).first(std::size_t(cut)), TensorView<float>(a.data(), {cut, V}));
    CHECK(std::equal(head.begin(), head.end(), a.begin()));
}

}  // namespace

TEST_CASE("Mamba model matches PyTorch, in one pass, token by token, in chunks and forked", "[mamba][golden]") {
    check_model<MambaArch>("mamba1");
}

TEST_CASE("Mamba-2 model matches PyTorch, in one pass, token by token, in chunks and forked", "[mamba][golden]") {
    check_model<Mamba2Arch>("mamba2");
}

TEST_CASE("Mamba models run with bf16 weights", "[mamba][golden]") {
    const test::FixtureSource src1("mamba1"), src2("mamba2");
    const Model<MambaArch> m1(src1.config(), src1, DType::bf16);
    const Model<Mamba2Arch> m2(src2.config(), src2, DType::bf16);
    CHECK(test::relative_error(test::logits_of(m1, src1.ids("input_ids"), 64), src1.read("expected_logits", {})) <= 3e-2);
    CHECK(test::relative_error(test::logits_of(m2, src2.ids("input_ids"), 64), src2.read("expected_logits", {})) <= 3e-2);
}

TEST_CASE("Mamba mixers validate their sizes and state position", "[mamba][errors]") {
    const test::FixtureSource src("mamba2");
    ModelConfig c = src.config();
    c.ssm_head_dim = 7;
    CHECK_THROWS_WITH(Model<Mamba2Arch>(c, src), Catch::Contains("d_inner 64") && Catch::Contains("ssm_head_dim 7"));
    c = src.config();
    c.ssm_groups = 3;
    CHECK_THROWS_WITH(Model<Mamba2Arch>(c, src), Catch::Contains("8 heads are not a multiple of ssm_groups 3"));

    // A state that has seen 12 tokens cannot be continued at position 0.
    const test::FixtureSource src1("mamba1");
    const ModelConfig c1 = src1.config();
    Mamba::Weights w;
    WeightLoader<test::FixtureSource> loader(src1, DType::f32);
    w.visit(loader, "layers.0.mixer", c1);
    auto state = Mamba::make_state(c1, 0);
    state.position = 12;
    Arena arena(Mamba::scratch_bytes(c1, 1));
    std::vector<float> x(std::size_t(c1.d_model), 0.1f), residual(std::size_t(c1.d_model), 0.f);
    ForwardContext ctx;
    ctx.arena = &arena;
    CHECK_THROWS_WITH(Mamba::forward(w, c1, state, TensorView<const float>(x.data(), {1, c1.d_model}),
                                     TensorView<float>(residual.data(), {1, c1.d_model}), ctx),
                      Catch::Contains("Mamba: the state has seen 12 tokens but this call starts at position 0"));
}
