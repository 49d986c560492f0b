#pragma once
// Selective state-space token mixers, following Hugging Face transformers.
//
// Mamba (Mamba-1; modeling_mamba.py MambaMixer.slow_forward), for T normalised rows x:
//   [u | z] = x·W_inᵀ                           in_proj, split into the SSM input and the gate
//   u = silu(causal depthwise conv(u) + b)      kernel d_conv, continued from the conv state
//   [δ_r | B | C] = u·W_xᵀ                       x_proj, split as (dt_rank, d_state, d_state)
//   δ = δ_r·W_dtᵀ + b_dt                         dt_proj; the scan applies the softplus
//   y = selective_scan(u, δ, A = −exp(A_log), B, C, D) · silu(z)
//   residual += y·W_outᵀ
// Mamba2 (modeling_mamba2.py Mamba2Mixer.torch_forward):
//   [z | xBC | δ] = x·W_inᵀ                      in_proj (HF's two d_mlp slices are empty in every checkpoint)
//   xBC = silu(causal depthwise conv(xBC) + b), split into x [d_inner], B and C [groups·d_state]
//   y = ssd_scan(x, softplus(δ + dt_bias), A = −exp(A_log) per head, B, C, D)
//   y = rms_norm(y · silu(z)) · w                MambaRMSNormGated: gate first, then normalise all of d_inner
//   residual += y·W_outᵀ
// Sizes: d_inner = ssm_expand·d_model, d_state = ssm_state, d_conv = ssm_conv, dt_rank = ssm_dt_rank or, when 0,
// ceil(d_model/16) (MambaConfig's "auto"); Mamba-2 heads = d_inner / ssm_head_dim, groups = ssm_groups.
// Projections carry no bias and the conv does (use_bias=False, use_conv_bias=True: HF's defaults and every released
// checkpoint's); the activation is SiLU, the only one mamba_ssm's kernels support. Mamba-2's dt clamp
// (time_step_limit) is left out: its default (0, inf) is a no-op after the softplus.
#include "lamina/core/serialize.hpp"
#include "lamina/kernels/norm.hpp"
#include "lamina/kernels/selective_scan.hpp"
#include "lamina/layers/context.hpp"
#include "lamina/layers/weights.hpp"

namespace lamina {

// The per-sequence state of both mixers: the last d_conv−1 conv inputs ([d_conv−1, conv channels], oldest first)
// and the SSM state ([d_inner, d_state], HF's layout for both versions), plus the number of tokens seen so a state
// cannot silently be fed a sequence from another position. Constant size however long the sequence.
struct SsmState {
    AlignedBuffer<float> conv, ssm;
    std::int64_t conv_channels = 0, d_state = 0, position = 0;

    void reset() {
        conv.fill(0.f);
        ssm.fill(0.f);
        position = 0;
    }
    // Copies another state of the same shape into this one's buffers (snapshot restore: no allocation).
    void assign(const SsmState& o) {
        LAMINA_CHECK(o.conv.size() == conv.size() && o.ssm.size() == ssm.size(), "SsmState: restoring a state of ",
                     o.conv.size(), "+", o.ssm.size(), " floats into one of ", conv.size(), "+", ssm.size());
        std::copy_n(o.conv.data(), conv.size(), conv.data());
        std::copy_n(o.ssm.data(), ssm.size(), ssm.data());
        position = o.position;
    }
    void save(std::ostream& out) const {
        for (std::int64_t v : {std::int64_t(conv.size()), std::int64_t(ssm.size()), position}) serial::write_value(out, v);
        serial::write_values(out, conv.data(), conv.size());
        serial::write_values(out, ssm.data(), ssm.size());
    }
    void load(std::istream& in) {
        serial::expect_value(in, std::int64_t(conv.size()), "SsmState conv size");
        serial::expect_value(in, std::int64_t(ssm.size()), "SsmState ssm size");
        position = serial::read_value<std::int64_t>(in, "SsmState position");
        serial::read_values(in, conv.data(), conv.size(), "SsmState conv state");
        serial::read_values(in, ssm.data(), ssm.size(), "SsmState ssm state");
    }
    std::size_t bytes() const { return (conv.size() + ssm.size()) * sizeof(float); }
    TensorView<float> conv_view(std::int64_t kernel) {
        return TensorView<float>(conv.data(), {kernel - 1, conv_channels});
    }
    TensorView<float> ssm_view() { return TensorView<float>(ssm.data(), {std::int64_t(ssm.size()) / d_state, d_state}); }
};

namespace detail {

inline SsmState make_ssm_state(std::int64_t conv_channels, std::int64_t kernel, std::int64_t rows, std::int64_t d_state) {
    SsmState s;
    s.conv = AlignedBuffer<float>(std::size_t((kernel - 1) * conv_channels));
    s.ssm = AlignedBuffer<float>(std::size_t(rows * d_state));
    s.conv_channels = conv_channels;
    s.d_state = d_state;
    s.reset();
    return s;
}

inline void check_ssm_position(const char* op, const SsmState& s, std::int64_t pos0) {
    LAMINA_CHECK(s.position == pos0, op, ": the state has seen ", s.position, " tokens but this call starts at position ",
                 pos0);
}

// Columns [begin, begin + count) of a matrix, as a view with the same row stride.
inline TensorView<float> columns(TensorView<float> m, std::int64_t begin, std::int64_t count) {
    return TensorView<float>::matrix(m.data() + begin, m.rows(), count, m.ld());
}

// A [rows, cols] matrix from the arena.
inline TensorView<float> scratch_matrix(Arena& a, std::int64_t rows, std::int64_t cols) {
    return TensorView<float>(a.alloc<float>(std::size_t(rows * cols)).data(), {rows, cols});
}
inline std::size_t matrix_bytes(std::int64_t rows, std::int64_t cols) {
    return std::size_t(rows * cols) * sizeof(float) + simd::kAlign;
}

inline std::span<const std::int64_t> shape(const std::int64_t& n) { return {&n, 1}; }

}  // namespace detail

struct Mamba {
    struct Sizes {
        std::int64_t d_model, d_inner, d_state, d_conv, dt_rank;
    };
    static Sizes sizes(const ModelConfig& c) {
        LAMINA_CHECK(c.d_model > 0 && c.ssm_expand > 0 && c.ssm_state > 0 && c.ssm_conv > 0 && c.ssm_dt_rank >= 0,
                     "Mamba: d_model (", c.d_model, "), ssm_expand (", c.ssm_expand, "), ssm_state (", c.ssm_state,
                     ") and ssm_conv (", c.ssm_conv, ") must be positive and ssm_dt_rank (", c.ssm_dt_rank,
                     ") >= 0");
        return {c.d_model, std::int64_t(c.ssm_expand) * c.d_model, c.ssm_state, c.ssm_conv,
                c.ssm_dt_rank ? c.ssm_dt_rank : (c.d_model + 15) / 16};
    }

    struct Weights {
        Linear in_proj, x_proj, dt_proj, out_proj;
        AlignedBuffer<float> conv_weight, conv_bias, A_log, D;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            const auto [d, E, N, K, R] = sizes(c);
            const std::int64_t conv_shape[] = {E, K}, a_shape[] = {E, N};
            v.linear(path + ".in_proj", in_proj, 2 * E, d, false);
            v.tensor(path + ".conv.weight", conv_weight, conv_shape);
            v.tensor(path + ".conv.bias", conv_bias, detail::shape(E));
            v.linear(path + ".x_proj", x_proj, R + 2 * N, E, false);
            v.linear(path + ".dt_proj", dt_proj, E, R, true);
            v.tensor(path + ".A_log", A_log, a_shape);
            v.tensor(path + ".D", D, detail::shape(E));
            v.linear(path + ".out_proj", out_proj, d, E, false);
        }
    };
    using State = SsmState;

    static State make_state(const ModelConfig& c, std::int64_t /*capacity: the state does not grow*/) {
        const Sizes s = sizes(c);
        return detail::make_ssm_state(s.d_inner, s.d_conv, s.d_inner, s.d_state);
    }
    static void prepare(const ModelConfig&, SharedTables&) {}
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const auto [d, E, N, K, R] = sizes(c);
        return detail::matrix_bytes(T, 2 * E) + detail::matrix_bytes(T, E) + detail::matrix_bytes(T, R + 2 * N) +
               2 * detail::matrix_bytes(T, E) +
               std::max(kernels::causal_conv1d_scratch_bytes(E, K), kernels::selective_scan_scratch_bytes(E, N));
    }

    // residual [T, d_model] += mamba(x) for the T normalised rows x that follow the state's tokens.
    static void forward(const Weights& w, const ModelConfig& c, State& state, TensorView<const float> x,
                        TensorView<float> residual, const ForwardContext& ctx) {
        const auto [d, E, N, K, R] = sizes(c);
        const std::int64_t T = x.rows();
        detail::check_ssm_position("Mamba", state, ctx.pos0);
        Arena& arena = *ctx.arena;
        ArenaScope scope(arena);
        const TensorView<float> xz = detail::scratch_matrix(arena, T, 2 * E);
        w.in_proj.forward(x, xz, ctx.pool);
        const TensorView<float> u = detail::scratch_matrix(arena, T, E);
        kernels::causal_conv1d(detail::columns(xz, 0, E), TensorView<const float>(w.conv_weight.data(), {E, K}),
                               w.conv_bias.span(), state.conv_view(K), u, Activation::silu, arena, ctx.pool);
        const TensorView<float> dbc = detail::scratch_matrix(arena, T, R + 2 * N);
        w.x_proj.forward(u, dbc, ctx.pool);
        const TensorView<float> delta = detail::scratch_matrix(arena, T, E);
        w.dt_proj.forward(detail::columns(dbc, 0, R), delta, ctx.pool);
        const TensorView<float> y = detail::scratch_matrix(arena, T, E);
        kernels::selective_scan(u, delta, TensorView<const float>(w.A_log.data(), {E, N}), detail::columns(dbc, R, N),
                                detail::columns(dbc, R + N, N), w.D.span(), detail::columns(xz, E, E), y,
                                state.ssm_view(), arena, ctx.pool);
        w.out_proj.forward(y, residual, ctx.pool, Activation::identity, true);
        state.position += T;
    }
};

struct Mamba2 {
    struct Sizes {
        std::int64_t d_model, d_inner, d_state, d_conv, heads, head_dim, groups, conv_channels;
    };
    static Sizes sizes(const ModelConfig& c) {
        LAMINA_CHECK(c.d_model > 0 && c.ssm_expand > 0 && c.ssm_state > 0 && c.ssm_conv > 0 && c.ssm_head_dim > 0 &&
                         c.ssm_groups > 0,
                     "Mamba2: d_model (", c.d_model, "), ssm_expand (", c.ssm_expand, "), ssm_state (", c.ssm_state,
                     "), ssm_conv (", c.ssm_conv, "), ssm_head_dim (", c.ssm_head_dim, ") and ssm_groups (",
                     c.ssm_groups, ") must be positive");
        const std::int64_t E = std::int64_t(c.ssm_expand) * c.d_model;
        LAMINA_CHECK(E % c.ssm_head_dim == 0, "Mamba2: d_inner ", E, " (ssm_expand · d_model) is not a multiple of ",
                     "ssm_head_dim ", c.ssm_head_dim);
        const std::int64_t H = E / c.ssm_head_dim;
        LAMINA_CHECK(H % c.ssm_groups == 0, "Mamba2: ", H, " heads are not a multiple of ssm_groups ", c.ssm_groups);
        return {c.d_model, E, c.ssm_state, c.ssm_conv, H, c.ssm_head_dim, c.ssm_groups,
                E + 2 * std::int64_t(c.ssm_groups) * c.ssm_state};
    }

    struct Weights {
        Linear in_proj, out_proj;
        AlignedBuffer<float> conv_weight, conv_bias, dt_bias, A_log, D, norm_weight;
        template <class V>
        void visit(V& v, const std::string& path, const ModelConfig& c) {
            const Sizes s = sizes(c);
            const std::int64_t conv_shape[] = {s.conv_channels, s.d_conv};
            v.linear(path + ".in_proj", in_proj, s.d_inner + s.conv_channels + s.heads, s.d_model, false);
            v.tensor(path + ".conv.weight", conv_weight, conv_shape);
            v.tensor(path + ".conv.bias", conv_bias, detail::shape(s.conv_channels));
            v.tensor(path + ".dt_bias", dt_bias, detail::shape(s.heads));
            v.tensor(path + ".A_log", A_log, detail::shape(s.heads));
            v.tensor(path + ".D", D, detail::shape(s.heads));
            v.tensor(path + ".norm.weight", norm_weight, detail::shape(s.d_inner));
            v.linear(path + ".out_proj", out_proj, s.d_model, s.d_inner, false);
        }
    };
    using State = SsmState;

    static State make_state(const ModelConfig& c, std::int64_t /*capacity: the state does not grow*/) {
        const Sizes s = sizes(c);
        return detail::make_ssm_state(s.conv_channels, s.d_conv, s.heads * s.head_dim, s.d_state);
    }
    static void prepare(const ModelConfig&, SharedTables&) {}
    static std::size_t scratch_bytes(const ModelConfig& c, std::int64_t T) {
        const Sizes s = sizes(c);
        return detail::matrix_bytes(T, s.d_inner + s.conv_channels + s.heads) +
               detail::matrix_bytes(T, s.conv_channels) + detail::matrix_bytes(T, s.d_inner) +
               std::max(kernels::causal_conv1d_scratch_bytes(s.conv_channels, s.d_conv),
                        kernels::ssd_scan_scratch_bytes({s.heads, s.head_dim, s.groups, s.d_state}, T));
    }

    static void forward(const Weights& w, const ModelConfig& c, State& state, TensorView<const float> x,
                        TensorView<float> residual, const ForwardContext& ctx) {
        const Sizes s = sizes(c);
        const std::int64_t T = x.rows(), E = s.d_inner, CD = s.conv_channels, GN = s.groups * s.d_state;
        detail::check_ssm_position("Mamba2", state, ctx.pos0);
        Arena& arena = *ctx.arena;
        ArenaScope scope(arena);
        const TensorView<float> zxbcdt = detail::scratch_matrix(arena, T, E + CD + s.heads);
        w.in_proj.forward(x, zxbcdt, ctx.pool);
        const TensorView<float> xbc = detail::scratch_matrix(arena, T, CD);
        kernels::causal_conv1d(detail::columns(zxbcdt, E, CD), TensorView<const float>(w.conv_weight.data(), {CD, s.d_conv}),
                               w.conv_bias.span(), state.conv_view(s.d_conv), xbc, Activation::silu, arena, ctx.pool);
        const TensorView<float> y = detail::scratch_matrix(arena, T, E);
        kernels::ssd_scan({s.heads, s.head_dim, s.groups, s.d_state}, detail::columns(xbc, 0, E),
                          detail::columns(zxbcdt, E + CD, s.heads), w.dt_bias.span(), w.A_log.span(),
                          detail::columns(xbc, E, GN), detail::columns(xbc, E + GN, GN), w.D.span(), y,
                          state.ssm_view(), arena, ctx.pool);
        for (std::int64_t t = 0; t < T; ++t) {
            kernels::gated_activation(Activation::silu, zxbcdt.row(t), y.row(t), y.row(t), std::size_t(E));
            kernels::rms_norm(y.row(t), y.row(t), std::size_t(E), w.norm_weight.data(), c.norm_eps);
        }
        w.out_proj.forward(y, residual, ctx.pool, Activation::identity, true);
        state.position += T;
    }
};

}  // namespace lamina
