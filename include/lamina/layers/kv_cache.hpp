#pragma once
// KvCache: the keys and values one attention layer has seen, preallocated, in the layout the attention kernel reads
// (kernels/attention.hpp): keys in d-major tiles, values as padded rows, per kv head. Per-sequence state, separate
// from the immutable weights: copyable (beam search forks it), truncatable (speculative decoding rolls it back) and
// serialisable (session save/restore). Three ways to hold the positions seen so far:
//   linear   slot j holds position j, up to the context length (the default)
//   ring     a sliding-window layer only ever reads the last `window` positions, so position p lives in slot
//            p mod capacity with capacity ≈ window + kRingSlack: memory bounded by the window, not the context.
//            The kernel addresses the ring itself (AttentionShape::key_ring), so key indices stay absolute
//            positions and masks and position biases are exact.
//   evicting a linear cache with a KvEviction budget: once it holds more than `budget` keys, a policy chooses
//            which older keys to keep (the newest `recent` always stay); kept keys are compacted in order, so slot
//            j holds position j + evicted() for the consecutive tail.
// Precision (KvPrecision): f32, or int8 with one scale per kv head and token (scale = max|x| / 127 over the head's
// head_dim values), which the kernel reads directly: a quarter of the bytes of the f32 cache.
#include "lamina/core/aligned.hpp"
#include "lamina/core/serialize.hpp"
#include "lamina/kernels/attention.hpp"
#include "lamina/models/config.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace lamina {

// The eviction hook: chooses `keep` of the candidate keys (the older ones, oldest first), given the L2 norm of
// each key (summed over kv heads), by writing their indices in ascending order to out[0 .. keep).
using KvKeepFn = void (*)(std::span<const float> key_norms, std::int64_t keep, std::span<std::int64_t> out);

// The training-free policy of Devoto et al. 2024 ("A simple and effective L2 norm-based strategy for KV cache
// compression"): keys with a small norm attract high attention, so keep the smallest-norm keys.
inline void keep_smallest_key_norms(std::span<const float> norms, std::int64_t keep, std::span<std::int64_t> out) {
    const auto n = std::int64_t(norms.size());
    for (std::int64_t i = 0; i < n; ++i) out[std::size_t(i)] = i;
    // Ties go to the older key, so the choice is deterministic.
    const auto by_norm = [&](std::int64_t a, std::int64_t b) {
        return norms[std::size_t(a)] < norms[std::size_t(b)] || (norms[std::size_t(a)] == norms[std::size_t(b)] && a < b);
    };
    std::nth_element(out.begin(), out.begin() + keep, out.begin() + n, by_norm);
    std::sort(out.begin(), out.begin() + keep);
}

// Keeps the newest keys only (a recency window): the baseline eviction policies are compared against.
inline void keep_most_recent_keys(std::span<const float> norms, std::int64_t keep, std::span<std::int64_t> out) {
    const auto n = std::int64_t(norms.size());
    for (std::int64_t i = 0; i < keep; ++i) out[std::size_t(i)] = n - keep + i;
}

struct KvEviction {
    std::int64_t budget = 0;  // keys kept per layer; 0 never evicts
    std::int64_t recent = 8;  // the newest keys are never evicted
    KvKeepFn keep = keep_smallest_key_norms;
};

class KvCache {
public:
    // Positions a ring holds beyond its window: the most tokens one append may add (longer calls are fed to it in
    // slices) and the furthest a truncate may roll back.
    static constexpr std::int64_t kRingSlack = 64;

    KvCache() = default;
    // A linear cache for `capacity` positions.
    KvCache(int n_kv_heads, int head_dim, std::int64_t capacity, KvPrecision precision = KvPrecision::f32)
        : KvCache(n_kv_heads, head_dim, capacity, 0, precision) {}
    // The cache of a layer whose queries see at most `window` keys: a ring when that is smaller than `capacity`.
    static KvCache windowed(int n_kv_heads, int head_dim, std::int64_t capacity, std::int64_t window,
                            KvPrecision precision = KvPrecision::f32) {
        const std::int64_t tile = kernels::kKeyTile;
        const std::int64_t ring = (window - 1 + kRingSlack + tile - 1) / tile * tile;
        if (window <= 0 || ring >= capacity) return KvCache(n_kv_heads, head_dim, capacity, precision);
        return KvCache(n_kv_heads, head_dim, ring, window, precision);
    }

    std::int64_t size() const { return size_; }          // positions seen: the next token's position
    std::int64_t capacity() const { return capacity_; }  // slots
    KvPrecision precision() const { return precision_; }
    bool is_ring() const { return window_ > 0; }
    std::int64_t evicted() const { return tail_begin_ - compacted_; }  // positions dropped by eviction
    // Entries the kernel indexes: absolute positions for a ring (addressed modulo key_ring()), slots otherwise.
    std::int64_t kernel_keys() const { return is_ring() ? size_ : size_ - evicted(); }
    std::int64_t key_ring() const { return is_ring() ? capacity_ : 0; }
    // The most tokens one append() may add.
    std::int64_t max_append() const { return is_ring() ? capacity_ - (window_ - 1) : capacity_ - kernel_keys(); }

    // Appends T tokens: row t of k and v holds n_kv_heads·head_dim floats (head-major), rows ld apart.
    void append(const float* k, const float* v, std::int64_t ld, std::int64_t tokens) {
        LAMINA_CHECK(tokens <= max_append(), "KvCache: appending ", tokens, " tokens to ", size_,
                     " exceeds the capacity of ", capacity_);
        const std::int64_t hdp = kernels::padded_head_dim(head_dim_);
        for (std::int64_t t = 0; t < tokens; ++t, ++size_) {
            const std::int64_t slot = is_ring() ? size_ % capacity_ : size_ - evicted();
            float norm = 0.f;
            for (int g = 0; g < n_kv_heads_; ++g) {
                const float* key = k + t * ld + g * head_dim_;
                const float* value = v + t * ld + g * head_dim_;
                if (precision_ == KvPrecision::f32) {
                    kernels::store_key(keys_.data() + g * key_head_stride(), head_dim_, slot, key);
                    std::copy_n(value, head_dim_, values_.data() + g * value_head_stride() + slot * hdp);
                } else {
                    std::int8_t q[kernels::kMaxHeadDim];
                    key_scales_[std::size_t(g * scale_stride() + slot)] = kernels::quantize_kv_row(key, head_dim_, q);
                    kernels::store_key(keys8_.data() + g * key_head_stride(), head_dim_, slot, q);
                    value_scales_[std::size_t(g * scale_stride() + slot)] =
                        kernels::quantize_kv_row(value, head_dim_, values8_.data() + g * value_head_stride() + slot * hdp);
                }
                float sq = 0.f;
                for (int d = 0; d < head_dim_; ++d) sq += key[d] * key[d];
                norm += std::sqrt(sq);
            }
            key_norms_[std::size_t(slot)] = norm;
        }
    }

    // Forgets everything from position `size` on (speculative-decoding rollback). A ring can roll back while the
    // window before `size` is still stored (kRingSlack positions); an evicting cache back to its last eviction.
    void truncate(std::int64_t size) {
        LAMINA_CHECK(size >= 0 && size <= size_, "KvCache: cannot truncate ", size_, " entries to ", size);
        if (size == 0) {
            size_ = compacted_ = tail_begin_ = 0;
            return;
        }
        LAMINA_CHECK(!is_ring() || size - (window_ - 1) >= size_ - capacity_, "KvCache: a ring of ", capacity_,
                     " slots at position ", size_, " no longer holds the window before position ", size);
        LAMINA_CHECK(size >= tail_begin_, "KvCache: cannot roll back to position ", size,
                     ", keys before position ", tail_begin_, " were evicted");
        size_ = size;
    }

    // Applies the eviction policy when the cache holds more than its budget (a no-op for a ring, already bounded).
    void set_eviction(const KvEviction& e) {
        LAMINA_CHECK(e.budget == 0 || (e.recent >= 0 && e.recent < e.budget && e.keep),
                     "KvCache: an eviction budget of ", e.budget, " must exceed the ", e.recent,
                     " recent keys kept, and needs a policy");
        eviction_ = e;
        if (!is_ring() && e.budget > 0) order_.resize(std::size_t(capacity_));
    }
    const KvEviction& eviction() const { return eviction_; }

    // Called by the attention layer after a forward call: the new keys have been attended to, older ones may go.
    void evict_over_budget() {
        const std::int64_t slots = kernel_keys();
        if (is_ring() || eviction_.budget == 0 || slots <= eviction_.budget) return;
        const std::int64_t candidates = slots - eviction_.recent, keep = eviction_.budget - eviction_.recent;
        const std::span<std::int64_t> chosen(order_.data(), std::size_t(candidates));
        eviction_.keep(std::span<const float>(key_norms_.data(), std::size_t(candidates)), keep, chosen);
        std::int64_t to = 0;
        for (std::int64_t i = 0; i < keep; ++i) move_slot(chosen[std::size_t(i)], to++);
        for (std::int64_t s = candidates; s < slots; ++s) move_slot(s, to++);
        compacted_ = keep;
        tail_begin_ = size_ - eviction_.recent;
    }

    // fn(kernels::KeyTiles<E>, kernels::ValueRows<E>) with E the stored element type: what the kernel reads.
    template <class Fn>
    decltype(auto) with_views(Fn&& fn) const {
        const std::int64_t hdp = kernels::padded_head_dim(head_dim_);
        if (precision_ == KvPrecision::f32)
            return fn(kernels::KeyTiles<float>{keys_.data(), key_head_stride()},
                      kernels::ValueRows<float>{values_.data(), value_head_stride(), hdp});
        return fn(kernels::KeyTiles<std::int8_t>{keys8_.data(), key_head_stride(), key_scales_.data(), scale_stride()},
                  kernels::ValueRows<std::int8_t>{values8_.data(), value_head_stride(), hdp, value_scales_.data(),
                                                  scale_stride()});
    }
    std::size_t bytes() const {
        return (keys_.size() + values_.size() + key_scales_.size() + value_scales_.size() + key_norms_.size()) *
                   sizeof(float) +
               keys8_.size() + values8_.size();
    }

    // Copies another cache of the same shape into this one's buffers (snapshot restore: no allocation, only the
    // stored slots are copied). The eviction policy stays this cache's own.
    void assign(const KvCache& o) {
        LAMINA_CHECK(o.n_kv_heads_ == n_kv_heads_ && o.head_dim_ == head_dim_ && o.capacity_ == capacity_ &&
                         o.window_ == window_ && o.precision_ == precision_,
                     "KvCache: restoring a cache of another shape or precision");
        size_ = o.size_, compacted_ = o.compacted_, tail_begin_ = o.tail_begin_;
        for_stored([&](auto buf, std::size_t offset, std::size_t n) {
            std::copy_n((o.*buf).data() + offset, n, (this->*buf).data() + offset);
        });
    }

    // Session save/restore: the shape (checked on load), the position bookkeeping and the stored slots.
    void save(std::ostream& out) const {
        for (std::int64_t v : {std::int64_t(n_kv_heads_), std::int64_t(head_dim_), capacity_, window_,
                               std::int64_t(precision_), size_, compacted_, tail_begin_})
            serial::write_value(out, v);
        for_stored([&](auto buf, std::size_t offset, std::size_t n) {
            serial::write_values(out, (this->*buf).data() + offset, n);
        });
    }
    void load(std::istream& in) {
        serial::expect_value(in, std::int64_t(n_kv_heads_), "KvCache n_kv_heads");
        serial::expect_value(in, std::int64_t(head_dim_), "KvCache head_dim");
        serial::expect_value(in, capacity_, "KvCache capacity");
        serial::expect_value(in, window_, "KvCache window");
        serial::expect_value(in, std::int64_t(precision_), "KvCache precision (0 f32, 1 int8)");
        const auto size = serial::read_value<std::int64_t>(in, "KvCache size");
        const auto compacted = serial::read_value<std::int64_t>(in, "KvCache eviction state");
        const auto tail_begin = serial::read_value<std::int64_t>(in, "KvCache eviction state");
        LAMINA_CHECK(size >= 0 && compacted >= 0 && tail_begin >= compacted && tail_begin <= size &&
                         (window_ > 0 || size - (tail_begin - compacted) <= capacity_),
                     "session restore: inconsistent KvCache positions (size ", size, ")");
        size_ = size, compacted_ = compacted, tail_begin_ = tail_begin;
        for_stored([&](auto buf, std::size_t offset, std::size_t n) {
            serial::read_values(in, (this->*buf).data() + offset, n, "KvCache contents");
        });
    }

private:
    KvCache(int n_kv_heads, int head_dim, std::int64_t capacity, std::int64_t window, KvPrecision precision)
        : n_kv_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity), window_(window), precision_(precision) {
        LAMINA_CHECK(n_kv_heads > 0 && head_dim > 0 && head_dim <= kernels::kMaxHeadDim && capacity > 0,
                     "KvCache: n_kv_heads ", n_kv_heads, " and capacity ", capacity, " must be positive, head_dim ",
                     head_dim, " in 1..", kernels::kMaxHeadDim);
        // Zeros, not garbage: the kernel reads whole key tiles and multiplies masked value rows by 0.
        const auto zeros = [](auto& buffer, std::int64_t n) {
            buffer = std::remove_reference_t<decltype(buffer)>(std::size_t(n));
            buffer.fill(0);
        };
        if (precision == KvPrecision::f32) {
            zeros(keys_, n_kv_heads * key_head_stride());
            zeros(values_, n_kv_heads * value_head_stride());
        } else {
            zeros(keys8_, n_kv_heads * key_head_stride());
            zeros(values8_, n_kv_heads * value_head_stride());
            zeros(key_scales_, n_kv_heads * scale_stride());
            zeros(value_scales_, n_kv_heads * scale_stride());
        }
        zeros(key_norms_, capacity);
    }

    std::int64_t tiles() const { return (capacity_ + kernels::kKeyTile - 1) / kernels::kKeyTile; }
    std::int64_t key_head_stride() const { return tiles() * head_dim_ * kernels::kKeyTile; }
    std::int64_t value_head_stride() const { return capacity_ * kernels::padded_head_dim(head_dim_); }
    std::int64_t scale_stride() const { return tiles() * kernels::kKeyTile; }  // whole tiles: aligned scale loads

    // Calls fn(buffer, offset, count) — buffer a pointer to an AlignedBuffer member — for each range in use: per
    // head, the used key tiles and value rows (and their scales), then the key norms.
    template <class Fn>
    void for_stored(Fn&& fn) const {
        const std::int64_t used = is_ring() ? std::min(size_, capacity_) : kernel_keys();
        const std::int64_t tiles_used = (used + kernels::kKeyTile - 1) / kernels::kKeyTile;
        const auto per_head = [&](auto keys, auto values) {
            for (int g = 0; g < n_kv_heads_; ++g) {
                fn(keys, std::size_t(g * key_head_stride()), std::size_t(tiles_used * head_dim_ * kernels::kKeyTile));
                fn(values, std::size_t(g * value_head_stride()), std::size_t(used * kernels::padded_head_dim(head_dim_)));
            }
        };
        if (precision_ == KvPrecision::f32) {
            per_head(&KvCache::keys_, &KvCache::values_);
        } else {
            per_head(&KvCache::keys8_, &KvCache::values8_);
            for (int g = 0; g < n_kv_heads_; ++g) {
                fn(&KvCache::key_scales_, std::size_t(g * scale_stride()), std::size_t(used));
                fn(&KvCache::value_scales_, std::size_t(g * scale_stride()), std::size_t(used));
            }
        }
        fn(&KvCache::key_norms_, std::size_t(0), std::size_t(used));
    }

    void move_slot(std::int64_t from, std::int64_t to) {
        if (from == to) return;
        const auto move = [&](auto& keys, auto& values) {
            const std::int64_t hdp = kernels::padded_head_dim(head_dim_), T = kernels::kKeyTile;
            for (int g = 0; g < n_kv_heads_; ++g) {
                auto* kt = keys.data() + g * key_head_stride();
                const auto* src = kt + (from / T) * head_dim_ * T + from % T;
                auto* dst = kt + (to / T) * head_dim_ * T + to % T;
                for (int d = 0; d < head_dim_; ++d) dst[d * T] = src[d * T];
                auto* vh = values.data() + g * value_head_stride();
                std::copy_n(vh + from * hdp, hdp, vh + to * hdp);
            }
        };
        if (precision_ == KvPrecision::f32) {
            move(keys_, values_);
        } else {
            move(keys8_, values8_);
            for (int g = 0; g < n_kv_heads_; ++g) {
                const std::size_t at = std::size_t(g * scale_stride());
                key_scales_[at + std::size_t(to)] = key_scales_[at + std::size_t(from)];
                value_scales_[at + std::size_t(to)] = value_scales_[at + std::size_t(from)];
            }
        }
        key_norms_[std::size_t(to)] = key_norms_[std::size_t(from)];
    }

    int n_kv_heads_ = 0, head_dim_ = 0;
    std::int64_t capacity_ = 0, window_ = 0, size_ = 0;
    KvPrecision precision_ = KvPrecision::f32;
    // Eviction bookkeeping: slots [0, compacted_) hold kept older keys; slot compacted_ + j holds position
    // tail_begin_ + j.
    std::int64_t compacted_ = 0, tail_begin_ = 0;
    // f32 keys and values, or int8 ones with their scales (the other pair stays empty).
    AlignedBuffer<float> keys_, values_, key_norms_;
    AlignedBuffer<std::int8_t> keys8_, values8_;
    AlignedBuffer<float> key_scales_, value_scales_;
    KvEviction eviction_;
    std::vector<std::int64_t> order_;  // the policy's output, sized when eviction is enabled
};

}  // namespace lamina
