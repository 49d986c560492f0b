// Fused online-softmax attention against a naive reference that materialises the score matrix in double precision:
// MHA/GQA/MQA, odd head dims, causal and windowed ranges, additive biases, soft-capping, fully masked rows and the
// split-KV decode path (which must not depend on the thread count); keys and values stored as f32 or as int8 rows
// with a scale each (the reference then attends over the dequantised rows).
#include "lamina/kernels/attention.hpp"
#include "lamina/models/config.hpp"
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace lamina;
using namespace lamina::kernels;

namespace {

// Query i sits at position offset + i; keys at 0..n_keys-1; visible: [pos - window + 1, pos] (window 0 = causal
// only), optionally everything (bidirectional). Adds slope_h · (k - pos) as an ALiBi-style bias.
struct TestMod {
    std::int64_t offset = 0, window = 0;
    bool causal = true, alibi = false;
    static constexpr bool adjusts_scores = true;
    float slope(int h) const { return alibi ? 0.25f * float(h + 1) : 0.f; }
    KeyRange range(int, std::int64_t i) const {
        const std::int64_t pos = offset + i;
        if (!causal) return {0, std::numeric_limits<std::int64_t>::max()};
        return {window ? pos - window + 1 : 0, pos + 1};
    }
    simd::FloatV adjust(int h, std::int64_t i, std::int64_t k0, simd::FloatV s) const {
        alignas(simd::kAlign) float b[simd::kWidth];
        for (std::size_t j = 0; j < simd::kWidth; ++j) b[j] = slope(h) * float(std::int64_t(k0 + j) - (offset + i));
        return s + simd::FloatV::load_aligned(b);
    }
};

struct Problem {
    int n_heads, n_kv_heads, head_dim;
    std::int64_t n_queries, n_keys;
    float scale = 0.f, softcap = 0.f;
};

// Lays keys and values [n_keys, n_kv_heads, hd] out as the kernel reads them (tiled keys and padded value rows per
// kv head, elements of type E), runs it, and returns its output. int8 rows are quantized with their scales, and the
// rows of keys and vals replaced by their dequantised values.
template <KvElement E>
std::vector<float> run_attention(const Problem& p, const TestMod& mod, ThreadPool* pool, const std::vector<float>& q,
                                 std::vector<float>& keys, std::vector<float>& vals) {
    const int hd = p.head_dim;
    const std::int64_t hdp = padded_head_dim(hd), tiles = (p.n_keys + kKeyTile - 1) / kKeyTile;
    AlignedBuffer<E> kt(std::size_t(p.n_kv_heads * tiles * hd * kKeyTile)), vr(std::size_t(p.n_kv_heads * p.n_keys * hdp));
    AlignedBuffer<float> key_scales(std::size_t(p.n_kv_heads * tiles * kKeyTile)), value_scales(key_scales.size());
    kt.fill(0);
    vr.fill(0);
    key_scales.fill(0.f);
    value_scales.fill(0.f);
    for (int g = 0; g < p.n_kv_heads; ++g)
        for (std::int64_t j = 0; j < p.n_keys; ++j) {
            float* key = &keys[std::size_t((j * p.n_kv_heads + g) * hd)];
            float* val = &vals[std::size_t((j * p.n_kv_heads + g) * hd)];
            E* val_row = vr.data() + (g * p.n_keys + j) * hdp;
            if constexpr (std::is_same_v<E, float>) {
                store_key(kt.data() + g * tiles * hd * kKeyTile, hd, j, key);
                std::copy_n(val, hd, val_row);
            } else {
                std::int8_t qk[kMaxHeadDim];
                const std::size_t at = std::size_t(g * tiles * kKeyTile + j);
                key_scales[at] = quantize_kv_row(key, hd, qk);
                store_key(kt.data() + g * tiles * hd * kKeyTile, hd, j, qk);
                value_scales[at] = quantize_kv_row(val, hd, val_row);
                for (int d = 0; d < hd; ++d) key[d] = key_scales[at] * float(qk[d]), val[d] = value_scales[at] * float(val_row[d]);
            }
        }
    std::vector<float> out(std::size_t(p.n_queries * p.n_heads * hd), -1.f);
    Arena arena(attention_scratch_bytes(p.n_heads, hd, p.n_keys));
    const float scale = p.scale ? p.scale : 1.f / std::sqrt(float(hd));
    const AttentionShape shape{p.n_heads, p.n_kv_heads, hd, p.n_queries, p.n_keys, scale, p.softcap};
    attention(shape, q.data(), p.n_heads * hd, KeyTiles<E>{kt.data(), tiles * hd * kKeyTile, key_scales.data(), tiles * kKeyTile},
              ValueRows<E>{vr.data(), p.n_keys * hdp, hdp, value_scales.data(), tiles * kKeyTile}, out.data(),
              p.n_heads * hd, mod, arena, pool);
    return out;
}

std::vector<float> check_attention(const Problem& p, const TestMod& mod, ThreadPool* pool,
                                   KvPrecision precision = KvPrecision::f32) {
    const int hd = p.head_dim;
    const float scale = p.scale ? p.scale : 1.f / std::sqrt(float(hd));
    const auto q = test::random_vector(std::size_t(p.n_queries * p.n_heads * hd), 1);
    auto keys = test::random_vector(std::size_t(p.n_keys * p.n_kv_heads * hd), 2, -2.f, 2.f);
    auto vals = test::random_vector(std::size_t(p.n_keys * p.n_kv_heads * hd), 3);
    const auto out = precision == KvPrecision::f32 ? run_attention<float>(p, mod, pool, q, keys, vals)
                                                   : run_attention<std::int8_t>(p, mod, pool, q, keys, vals);

    std::vector<float> ref(out.size());
    const int group = p.n_heads / p.n_kv_heads;
    for (std::int64_t i = 0; i < p.n_queries; ++i)
        for (int h = 0; h < p.n_heads; ++h) {
            const int g = h / group;
            const KeyRange r = mod.range(h, i);
            std::vector<double> w(std::size_t(p.n_keys), 0.0);
            double mx = -INFINITY, sum = 0;
            for (std::int64_t j = 0; j < p.n_keys; ++j) {
                if (j < r.begin || j >= r.end) { w[j] = -INFINITY; continue; }
                double s = 0;
                for (int d = 0; d < hd; ++d)
                    s += double(q[std::size_t((i * p.n_heads + h) * hd + d)]) * keys[std::size_t((j * p.n_kv_heads + g) * hd + d)];
                s *= scale;
                if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
                s += mod.slope(h) * double(j - (mod.offset + i));
                w[j] = s;
                mx = std::max(mx, s);
            }
            for (auto& x : w) sum += (x = std::isinf(x) ? 0.0 : std::exp(x - mx));
            for (int d = 0; d < hd; ++d) {
                double o = 0;
                for (std::int64_t j = 0; j < p.n_keys; ++j) o += w[j] * vals[std::size_t((j * p.n_kv_heads + g) * hd + d)];
                ref[std::size_t((i * p.n_heads + h) * hd + d)] = float(sum > 0 ? o / sum : 0.0);
            }
        }
    INFO("heads " << p.n_heads << "/" << p.n_kv_heads << " hd " << hd << " q " << p.n_queries << " k " << p.n_keys
                  << " window " << mod.window << " causal " << mod.causal << " alibi " << mod.alibi << " int8 "
                  << (precision == KvPrecision::int8));
    CHECK(test::relative_error(out, ref) <= 2e-5);
    for (float x : out) REQUIRE(std::isfinite(x));
    return out;
}

}  // namespace

TEST_CASE("attention matches the naive reference", "[attention]") {
    ThreadPool pool(2);
    const Problem problems[] = {
        {1, 1, 1, 1, 1},     {4, 4, 16, 5, 5},   {4, 2, 24, 17, 17},  {8, 1, 64, 3, 40},
        {3, 3, 7, 9, 33},    {2, 1, 128, 13, 70}, {6, 3, 80, 30, 30},
    };
    for (const auto& p : problems) {
        for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
            check_attention(p, {p.n_keys - p.n_queries, 0, true, false}, tp);       // causal, queries at the end
            check_attention(p, {p.n_keys - p.n_queries, 4, true, true}, tp);        // sliding window + ALiBi
            check_attention(p, {0, 0, false, false}, tp);                          // bidirectional
        }
    }
    check_attention({4, 2, 32, 6, 50, 0.f, 5.f}, {44, 0, true, false}, nullptr);  // soft-capped logits
    check_attention({2, 2, 16, 4, 12, 1.f}, {0, 0, false, true}, nullptr);        // scale 1 (T5) + bias
}

TEST_CASE("attention over int8 keys and values matches the reference on the dequantised rows", "[attention][int8]") {
    ThreadPool pool(2);
    const Problem problems[] = {{1, 1, 1, 1, 1}, {4, 2, 24, 17, 17}, {3, 3, 7, 9, 33}, {8, 2, 64, 1, 2 * kSplitChunk + 9}};
    for (const auto& p : problems) {
        for (const TestMod mod : {TestMod{p.n_keys - p.n_queries, 0, true, false}, TestMod{p.n_keys - p.n_queries, 4, true, true},
                                  TestMod{0, 0, false, false}}) {
            const auto exact = check_attention(p, mod, &pool);
            const auto int8 = check_attention(p, mod, &pool, KvPrecision::int8);
            // Per-row int8 rounding: relative errors of ~1/254 per element, which largely average out.
            CHECK(test::relative_error(int8, exact) <= 0.02);
            REQUIRE(check_attention(p, mod, nullptr, KvPrecision::int8) == int8);
        }
    }
}

TEST_CASE("attention gives zeros for a query that sees no key", "[attention]") {
    // Query 0 at position -1 sees nothing under a causal mask.
    check_attention({2, 1, 16, 3, 8}, {-1, 0, true, false}, nullptr);
}

TEST_CASE("split-KV decode matches the reference and is thread-count independent", "[attention][threads]") {
    const Problem p{8, 2, 64, 1, 3 * kSplitChunk + 77};
    check_attention(p, {p.n_keys - 1, 0, true, false}, nullptr);
    check_attention(p, {p.n_keys - 1, 700, true, true}, nullptr);
    ThreadPool two(2), three(3);
    const auto serial = check_attention(p, {p.n_keys - 1, 0, true, true}, nullptr);
    REQUIRE(check_attention(p, {p.n_keys - 1, 0, true, true}, &two) == serial);
    REQUIRE(check_attention(p, {p.n_keys - 1, 0, true, true}, &three) == serial);
}

TEST_CASE("attention rejects bad shapes", "[attention][errors]") {
    Arena arena(1024);
    float buf[64] = {};
    const TestMod mod;
    REQUIRE_THROWS_AS(attention(AttentionShape{3, 2, 8, 1, 1, 1.f}, buf, 24, KeyTiles<float>{buf, 0}, ValueRows<float>{buf, 0, 16},
                                buf, 24, mod, arena),
                      Error);
    REQUIRE_THROWS_AS(attention(AttentionShape{1, 1, kMaxHeadDim + 1, 1, 1, 1.f}, buf, 24, KeyTiles<float>{buf, 0},
                                ValueRows<float>{buf, 0, 16}, buf, 24, mod, arena),
                      Error);
}
