#pragma once
// Fused attention with online softmax (flash-attention style): each query row walks the visible keys in tiles,
// keeping a running max m, a running sum l and an unnormalised output accumulator, so the T×T score matrix is never
// materialised. The rows of a block are (query, head) pairs that share one kv head — the heads of a GQA group for
// each query, then the next query — so a tile of keys and values is read once for all of them, and a decode step
// of a GQA model fills a block from its single query. Parallel over (kv head, row block); with one query (a decode
// step) and a long cache the keys are also split into fixed chunks spread over threads, and the partial (m, l, acc)
// triples merged with the rule
//   M = max m_s,  l = Σ l_s·e^(m_s − M),  acc = Σ acc_s·e^(m_s − M),  o = acc / l.
//
// Key layout (KeyTiles): per kv head, tiles of kKeyTile keys stored d-major — tile t, dim d holds the d-th element
// of keys t·T … t·T+T−1 — so the scores of a whole tile are head_dim broadcast-FMAs into one register, with no
// horizontal sums. Values are plain rows (ValueRows). A KV cache appends into exactly this layout. Both hold f32, or
// int8 with one f32 scale per key (the int8 KV cache): an int8 key tile is widened to floats in registers and its
// scores scaled once per tile; the value scales fold into the softmax weights. Nothing is dequantised to memory.
//
// What varies between attention variants at this level is captured by a ScoreMod: which keys a query may see
// (causal, sliding window, per-head windows, padding) and an additive bias (ALiBi, T5 buckets). GQA/MQA is
// n_kv_heads < n_heads; the scale is a parameter (T5 uses 1); an optional tanh soft-cap bounds logits (Gemma 2).
#include "lamina/arch/x86_convert.hpp"
#include "lamina/core/arena.hpp"
#include "lamina/core/error.hpp"
#include "lamina/core/simd.hpp"
#include "lamina/core/thread_pool.hpp"
#include "lamina/kernels/softmax.hpp"
#include "lamina/kernels/vector_math.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace lamina::kernels {

inline constexpr int kKeyTile = int(simd::kWidth);  // keys per score register
inline constexpr int kMaxHeadDim = 512;
inline constexpr std::int64_t kSplitChunk = 512;  // keys per split-KV chunk of a decode step

// Half-open range of key indices a query may attend to.
struct KeyRange {
    std::int64_t begin = 0, end = 0;
};

// A ScoreMod says, for head h and query row i of the call, which keys are visible (range), and may adjust a
// register of scores for keys k0 … k0+kKeyTile−1 (bias, padding). `adjusts_scores` = false skips the per-tile call.
template <class M>
concept ScoreMod = requires(const M& m, int h, std::int64_t i, std::int64_t k0, simd::FloatV s) {
    { m.range(h, i) } -> std::same_as<KeyRange>;
    { m.adjust(h, i, k0, s) } -> std::same_as<simd::FloatV>;
    { M::adjusts_scores } -> std::convertible_to<bool>;
};

// The element types keys and values may be stored as.
template <class E>
concept KvElement = std::same_as<E, float> || std::same_as<E, std::int8_t>;

// Keys of every kv head in tiles (see above): head g's tile t starts at data + g·head_stride + t·head_dim·kKeyTile.
// int8 keys: key j of head g is scales[g·scale_stride + j] times its stored values (scales 64-byte aligned,
// scale_stride a multiple of kKeyTile).
template <KvElement E>
struct KeyTiles {
    const E* data = nullptr;
    std::int64_t head_stride = 0;
    const float* scales = nullptr;
    std::int64_t scale_stride = 0;
};
// Values of every kv head as rows: head g, key j at data + g·head_stride + j·ld. Rows must be readable up to
// head_dim rounded up to the SIMD width (the padding is read but never reaches the output). int8 values are scaled
// like int8 keys, and their scales must be readable (finite) up to the next multiple of kKeyTile.
template <KvElement E>
struct ValueRows {
    const E* data = nullptr;
    std::int64_t head_stride = 0, ld = 0;
    const float* scales = nullptr;
    std::int64_t scale_stride = 0;
};

struct AttentionShape {
    int n_heads = 0, n_kv_heads = 0, head_dim = 0;
    std::int64_t n_queries = 0, n_keys = 0;
    float scale = 1.f;
    float softcap = 0.f;  // 0: off; otherwise logits become softcap·tanh(logit/softcap)
    // 0: key j is stored at index j. Otherwise the keys and values are a ring (a sliding-window cache): key j lives
    // at index j mod key_ring, a multiple of kKeyTile, so a tile never wraps.
    std::int64_t key_ring = 0;
};

// Floats padded to whole registers.
constexpr std::int64_t padded_head_dim(int head_dim) {
    return (head_dim + std::int64_t(simd::kWidth) - 1) / std::int64_t(simd::kWidth) * std::int64_t(simd::kWidth);
}

// Writes key row `k` (head_dim elements) as key j of a head's tiles.
template <KvElement E>
void store_key(E* head_tiles, int head_dim, std::int64_t j, const E* k) {
    E* tile = head_tiles + (j / kKeyTile) * head_dim * kKeyTile + j % kKeyTile;
    for (int d = 0; d < head_dim; ++d) tile[d * kKeyTile] = k[d];
}

// One row of an int8 KV cache (a key or value of one kv head): x[0 .. n) ≈ scale · q[0 .. n), symmetric with
// scale = max|x| / 127. Returns the scale.
inline float quantize_kv_row(const float* x, int n, std::int8_t* q) {
    float m = 0.f;
    for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
    const float inv = m > 0.f ? 127.f / m : 0.f;
    for (int i = 0; i < n; ++i) q[i] = std::int8_t(std::nearbyint(x[i] * inv));
    return m / 127.f;
}

namespace detail {

using simd::FloatV;

inline FloatV load_lanes(const float* p) { return simd::load(p); }
inline FloatV load_lanes(const std::int8_t* p) { return arch::widen_i8<FloatV>(p); }

// One kv head's keys and values, as attend_range reads them.
template <KvElement E>
struct HeadKv {
    const E* keys;
    const float* key_scales;  // int8 only
    const E* values;
    const float* value_scales;  // int8 only
    std::int64_t value_ld;

    HeadKv(const KeyTiles<E>& k, const ValueRows<E>& v, int g)
        : keys(k.data + g * k.head_stride), key_scales(k.scales + g * k.scale_stride),
          values(v.data + g * v.head_stride), value_scales(v.scales + g * v.scale_stride), value_ld(v.ld) {}
};

// 0, 1, …, W−1: the key offset of each score lane.
inline FloatV lane_index() {
    alignas(simd::kAlign) float lanes[simd::kWidth];
    for (std::size_t i = 0; i < simd::kWidth; ++i) lanes[i] = float(i);
    return FloatV::load_aligned(lanes);
}

// Running state of one query row: max, sum and the unnormalised output (padded head_dim floats).
struct OnlineSoftmax {
    float m = -std::numeric_limits<float>::infinity();
    float l = 0.f;
};

// A row of a block: query i of the call, head h.
struct Row {
    std::int64_t i = 0;
    int h = 0;
};

// Processes keys [kb, ke) for rows[0..BQ), all of kv head kv. q rows are pre-scaled and padded; acc rows are
// padded_head_dim floats.
template <int BQ, ScoreMod Mod, KvElement E>
inline void attend_range(const AttentionShape& s, const float* const* q, const Row* rows, const HeadKv<E>& kv,
                         std::int64_t kb, std::int64_t ke, const Mod& mod, const KeyRange* ranges, OnlineSoftmax* st,
                         float* const* acc) {
    constexpr int T = kKeyTile;
    constexpr bool int8 = std::same_as<E, std::int8_t>;
    // Independent FMA chains per row: with fewer than 4 rows the dims are split over several accumulators, so the
    // score loop is not bound by FMA latency.
    constexpr int A = BQ >= 4 ? 1 : 4 / BQ;
    const int hd = s.head_dim;
    const std::int64_t hdp = padded_head_dim(hd);
    alignas(simd::kAlign) float p[BQ][T];
    for (std::int64_t k0 = kb - kb % T; k0 < ke; k0 += T) {
        // Scores of BQ rows × T keys: head_dim broadcast-FMAs per row on the d-major tile.
        const std::int64_t slot0 = s.key_ring ? k0 % s.key_ring : k0;
        const E* tile = kv.keys + (slot0 / T) * hd * T;
        FloatV sc[BQ], part[BQ][A];
        for (auto& row : part)
            for (auto& x : row) x = FloatV(0.f);
        int d = 0;
        for (; d + A <= hd; d += A)
            for (int a = 0; a < A; ++a) {
                const FloatV kd = load_lanes(tile + (d + a) * T);
#pragma GCC unroll 8
                for (int b = 0; b < BQ; ++b) part[b][a] = xsimd::fma(FloatV(q[b][d + a]), kd, part[b][a]);
            }
        for (; d < hd; ++d) {
            const FloatV kd = load_lanes(tile + d * T);
            for (int b = 0; b < BQ; ++b) part[b][0] = xsimd::fma(FloatV(q[b][d]), kd, part[b][0]);
        }
        for (int b = 0; b < BQ; ++b) {
            sc[b] = part[b][0];
            for (int a = 1; a < A; ++a) sc[b] += part[b][a];
        }
        if constexpr (int8) {
            const FloatV key_scale = FloatV::load_aligned(kv.key_scales + slot0);
            for (auto& x : sc) x *= key_scale;
        }
        const FloatV lane = lane_index();
        bool any = false;
        for (int b = 0; b < BQ; ++b) {
            FloatV x = sc[b];
            if (s.softcap > 0.f) x = FloatV(s.softcap) * vmath::tanh(x * FloatV(1.f / s.softcap));
            if constexpr (Mod::adjusts_scores) x = mod.adjust(rows[b].h, rows[b].i, k0, x);
            // Keys outside this query's visible range, or outside [kb, ke), score -inf.
            const std::int64_t lo = std::max(kb, ranges[b].begin), hi = std::min(ke, ranges[b].end);
            const FloatV kpos = lane + FloatV(float(k0));
            x = xsimd::select(kpos >= FloatV(float(lo)) && kpos < FloatV(float(hi)), x,
                              FloatV(-std::numeric_limits<float>::infinity()));
            const float tile_max = simd::hmax(x);
            const float m_new = std::max(st[b].m, tile_max);
            if (m_new == -std::numeric_limits<float>::infinity()) {  // nothing visible yet: skip, avoid -inf − -inf
                FloatV(0.f).store_aligned(p[b]);
                continue;
            }
            any = true;
            const FloatV e = detail::exp_nonpositive(x - FloatV(m_new));
            if constexpr (int8)  // the weights of int8 value rows carry their scales
                (e * FloatV::load_aligned(kv.value_scales + slot0)).store_aligned(p[b]);
            else
                e.store_aligned(p[b]);
            const float corr = std::exp(st[b].m - m_new);  // 0 when m was -inf
            st[b].l = st[b].l * corr + xsimd::hadd(e);
            st[b].m = m_new;
            if (corr != 1.f)
                for (std::int64_t c = 0; c < hdp; c += T) simd::store(acc[b] + c, simd::load(acc[b] + c) * FloatV(corr));
        }
        if (!any) continue;
        // acc += P · V for the tile: each value row is loaded once and used by every query of the block.
        const std::int64_t kn = std::min<std::int64_t>(T, ke - k0);
        for (std::int64_t c = 0; c < hdp; c += T) {
            FloatV a[BQ];
            for (int b = 0; b < BQ; ++b) a[b] = simd::load(acc[b] + c);
            for (std::int64_t j = 0; j < kn; ++j) {
                const FloatV vj = load_lanes(kv.values + (slot0 + j) * kv.value_ld + c);
#pragma GCC unroll 8
                for (int b = 0; b < BQ; ++b) a[b] = xsimd::fma(FloatV(p[b][j]), vj, a[b]);
            }
            for (int b = 0; b < BQ; ++b) simd::store(acc[b] + c, a[b]);
        }
    }
}

}  // namespace detail

// o[i, h·hd : (h+1)·hd] = softmax(scale · q_i,h · K_gᵀ (+ mod)) · V_g for every query row i and head h, where
// g = h / (n_heads / n_kv_heads). q and o are [n_queries, n_heads·head_dim] with row strides ldq and ldo. `scratch`
// holds the split-KV partials of a decode step (attention_scratch_bytes); nothing is allocated.
template <ScoreMod Mod, KvElement E>
void attention(const AttentionShape& s, const float* q, std::int64_t ldq, KeyTiles<E> k, ValueRows<E> v, float* o,
               std::int64_t ldo, const Mod& mod, Arena& scratch, ThreadPool* pool = nullptr) {
    LAMINA_CHECK(s.head_dim > 0 && s.head_dim <= kMaxHeadDim, "attention: head_dim ", s.head_dim, " is outside 1..",
                 kMaxHeadDim);
    LAMINA_CHECK(s.n_kv_heads > 0 && s.n_heads > 0 && s.n_heads % s.n_kv_heads == 0, "attention: n_heads ",
                 s.n_heads, " is not a positive multiple of n_kv_heads ", s.n_kv_heads);
    LAMINA_CHECK(s.n_queries >= 0 && s.n_keys >= 0, "attention: negative sizes (", s.n_queries, " queries, ",
                 s.n_keys, " keys)");
    const int group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
    const std::int64_t hdp = padded_head_dim(hd);
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();

    auto clamp = [&](KeyRange r) { return KeyRange{std::max<std::int64_t>(0, r.begin), std::min(s.n_keys, r.end)}; };
    auto load_query = [&](std::int64_t i, int h, float* dst) {
        const float* src = q + i * ldq + std::int64_t(h) * hd;
        for (int d = 0; d < hd; ++d) dst[d] = src[d] * s.scale;
    };
    auto write_output = [&](std::int64_t i, int h, const detail::OnlineSoftmax& st, const float* acc) {
        float* dst = o + i * ldo + std::int64_t(h) * hd;
        const float inv = st.l > 0.f ? 1.f / st.l : 0.f;  // no visible key: zeros, not NaN
        for (int d = 0; d < hd; ++d) dst[d] = acc[d] * inv;
    };

    // Rows (query i, head h) of kv head g are numbered r = i·group + (h − g·group); a block is BQ consecutive rows.
    constexpr int BQ = 4;
    const std::int64_t rows = s.n_queries * group, blocks = (rows + BQ - 1) / BQ;
    struct Block {
        alignas(simd::kAlign) float q[BQ][kMaxHeadDim];
        alignas(simd::kAlign) float acc[BQ][kMaxHeadDim];
        detail::Row rows[BQ];
        detail::OnlineSoftmax st[BQ];
        KeyRange ranges[BQ];
        int n = 0;
    };
    // Attends block `b` of kv head g to the keys in [lo, hi), leaving each row's (m, l) and accumulator in blk. The
    // rows run as one register block, or as blocks of 2 and 1 at the end of the rows.
    auto attend_block = [&](Block& blk, int g, std::int64_t b, std::int64_t lo, std::int64_t hi) {
        blk.n = int(std::min<std::int64_t>(BQ, rows - b * BQ));
        for (int j = 0; j < blk.n; ++j) {
            const std::int64_t r = b * BQ + j;
            const detail::Row row{r / group, g * group + int(r % group)};
            const KeyRange visible = clamp(mod.range(row.h, row.i));
            blk.rows[j] = row;
            blk.ranges[j] = {std::max(visible.begin, lo), std::min(visible.end, hi)};
            blk.st[j] = {};
            load_query(row.i, row.h, blk.q[j]);
            std::fill(blk.acc[j], blk.acc[j] + hdp, 0.f);
        }
        const detail::HeadKv<E> kv(k, v, g);
        const auto run = [&]<int N>(std::integral_constant<int, N>, int j0) {
            std::int64_t kb = hi, ke = lo;  // the union of the rows' ranges
            const float* qp[N];
            float* ap[N];
            for (int j = 0; j < N; ++j) {
                const KeyRange& r = blk.ranges[j0 + j];
                if (r.begin < r.end) kb = std::min(kb, r.begin), ke = std::max(ke, r.end);
                qp[j] = blk.q[j0 + j], ap[j] = blk.acc[j0 + j];
            }
            if (kb < ke)
                detail::attend_range<N>(s, qp, blk.rows + j0, kv, kb, ke, mod, blk.ranges + j0, blk.st + j0, ap);
        };
        int j = 0;
        if (blk.n == BQ) run(std::integral_constant<int, BQ>{}, 0), j = BQ;
        for (; j + 2 <= blk.n; j += 2) run(std::integral_constant<int, 2>{}, j);
        if (j < blk.n) run(std::integral_constant<int, 1>{}, j);
    };
    // A decode step over a long cache splits the keys into fixed chunks (not per thread, so the rounding — and the
    // result — is the same for every thread count).
    const std::int64_t chunks = (s.n_keys + kSplitChunk - 1) / kSplitChunk;
    if (s.n_queries != 1 || chunks < 2) {
        parallel_for(pool, s.n_kv_heads * blocks, [&](std::int64_t w0, std::int64_t w1) {
            Block blk;
            for (std::int64_t w = w0; w < w1; ++w) {
                attend_block(blk, int(w / blocks), w % blocks, 0, s.n_keys);
                for (int j = 0; j < blk.n; ++j) write_output(blk.rows[j].i, blk.rows[j].h, blk.st[j], blk.acc[j]);
            }
        });
        return;
    }

    // Split-KV decode: item (chunk c, kv head g, block b) reduces keys [c·C, (c+1)·C) for its rows; partials are
    // merged per head in chunk order.
    ArenaScope keep(scratch);
    const std::int64_t stride = hdp + 2;  // acc, then m, then l
    auto partials = scratch.alloc<float>(std::size_t(chunks * s.n_heads * stride));
    const std::int64_t per_chunk = s.n_kv_heads * blocks;
    parallel_for(pool, chunks * per_chunk, [&](std::int64_t w0, std::int64_t w1) {
        Block blk;
        for (std::int64_t w = w0; w < w1; ++w) {
            const std::int64_t c = w / per_chunk, item = w % per_chunk;
            attend_block(blk, int(item / blocks), item % blocks, c * kSplitChunk, (c + 1) * kSplitChunk);
            for (int j = 0; j < blk.n; ++j) {
                float* part = partials.data() + (c * s.n_heads + blk.rows[j].h) * stride;
                std::copy_n(blk.acc[j], hdp, part);
                part[hdp] = blk.st[j].m;
                part[hdp + 1] = blk.st[j].l;
            }
        }
    });

    alignas(simd::kAlign) float acc[kMaxHeadDim];
    for (int h = 0; h < s.n_heads; ++h) {
        float m = kNegInf;
        for (std::int64_t c = 0; c < chunks; ++c) m = std::max(m, partials[(c * s.n_heads + h) * stride + hdp]);
        detail::OnlineSoftmax merged{m, 0.f};
        std::fill(acc, acc + hd, 0.f);
        if (m != kNegInf) {
            for (std::int64_t c = 0; c < chunks; ++c) {
                const float* part = partials.data() + (c * s.n_heads + h) * stride;
                const float w = std::exp(part[hdp] - m);  // 0 for a chunk that saw nothing
                merged.l += part[hdp + 1] * w;
                for (int d = 0; d < hd; ++d) acc[d] += part[d] * w;
            }
        }
        write_output(0, h, merged, acc);
    }
}

// Scratch bytes attention() may take from its arena: the split-KV partials of a decode step over max_keys keys.
constexpr std::size_t attention_scratch_bytes(int n_heads, int head_dim, std::int64_t max_keys) {
    const std::int64_t chunks = (max_keys + kSplitChunk - 1) / kSplitChunk;
    return std::size_t(chunks * n_heads * (padded_head_dim(head_dim) + 2)) * sizeof(float) + simd::kAlign;
}

}  // namespace lamina::kernels
