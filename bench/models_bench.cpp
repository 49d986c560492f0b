// End-to-end benchmarks of whole models (bench_models.hpp) with random weights, against the machine's limits:
//   BM_prefill/<model>/<dtype>/prompt:<T>/threads:<n>  time to first token of a T-token prompt (an encoder: one
//       pass), prefill tokens/s, and fma_fraction = FLOPs per token × tokens/s ÷ the FMA-peak probe (same threads);
//   BM_decode/<model>/<dtype>/ctx:<C>/threads:<n>      one token per step after a C-token context: tokens/s and
//       bw_fraction = weight bytes read per token × tokens/s ÷ the read-bandwidth probe over a buffer as large as the
//       weights (same threads), and bw_fraction_with_kv counting the K/V cache read too;
//   BM_memory/<model>/<dtype>                          peak resident memory of a session (prefill 512, decode 16)
//       next to weight bytes + KV cache bytes.
// Figures are per CPU second of the pool's threads (Stopwatch in probes.hpp), probes included: on a shared machine
// the wall time mostly measures the other processes (wall_* counters keep it). Benchmarks of one model and dtype
// run back to back and the model is built once for them. The FLOP count covers
// the matrix products and attention (the selective scan and elementwise kernels are left out, a few % at most).
//
// `lamina_bench_models --export_weights=DIR [--export_models=a,b]` instead writes each model's f32 weights (lamina
// names, safetensors) and config (JSON) to DIR, for compare_pytorch.py to run the same weights in PyTorch.
#include "bench_models.hpp"
#include "probes.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <malloc.h>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

using namespace lamina;
using namespace lamina::bench;

namespace {

// ---- What a model reads and computes, from its weight declarations ----------------------------------------------

// A WeightVisitor that loads nothing and only reads the declarations: bytes held, bytes a decode step reads, and
// matrix parameters a prompt token multiplies. Run over a fresh Weights object (a visit builds the layers it names).
struct WeightCensus {
    std::size_t matrix_bytes_per_value = 4;  // f32 or bf16 packing
    bool encoder_decoder = false;
    double stored_bytes = 0;
    double decode_bytes = 0;    // per decode step
    double prefill_params = 0;  // matrix parameters applied to every prompt (or source) token
    double head_params = 0;     // the LM head: applied once per prompt, to the last token

    bool has(const std::string&) const { return true; }
    void linear(const std::string& path, Linear&, std::int64_t out, std::int64_t in, bool bias) {
        matrix(path, out, in, bias, false);
    }
    void linear_stacked(const std::string& path, std::span<const std::string>, std::span<const std::int64_t> rows,
                        std::int64_t in, bool bias, Linear&) {
        std::int64_t out = 0;
        for (auto r : rows) out += r;
        // A cross-attention's fused K/V projects the encoder's memory once per source, never per decode step.
        matrix(path, out, in, bias, path.ends_with("cross_attn"));
    }
    void linear_from(const std::string& path, Linear&, const AlignedBuffer<float>&, std::int64_t out, std::int64_t in) {
        matrix(path, out, in, false, false);
    }
    void tensor(const std::string& name, AlignedBuffer<float>&, std::span<const std::int64_t> shape) {
        double values = 1;
        for (auto d : shape) values *= double(d);
        stored_bytes += values * sizeof(float);
        // Embedding tables: a step reads one row.
        const bool table = name.ends_with(".tokens") || name.ends_with(".positions") || name.ends_with(".types");
        if (!in_encoder(name)) decode_bytes += (table ? values / double(shape[0]) : values) * sizeof(float);
    }

private:
    bool in_encoder(const std::string& path) const { return encoder_decoder && path.starts_with("encoder."); }
    void matrix(const std::string& path, std::int64_t out, std::int64_t in, bool bias, bool memory_projection) {
        const double params = double(out) * double(in);
        const double bytes = params * double(matrix_bytes_per_value) + (bias ? double(out) * sizeof(float) : 0.0);
        stored_bytes += bytes;
        if (path == "lm_head") {
            head_params += params;
            decode_bytes += bytes;
            return;
        }
        if (!in_encoder(path) && !memory_projection) decode_bytes += bytes;
        // An encoder-decoder's prompt is its source: the encoder and the memory projections see every token.
        if (!encoder_decoder || in_encoder(path) || memory_projection) prefill_params += params;
    }
};

// ---- Driving the three kinds of model through one interface -----------------------------------------------------

std::vector<std::int32_t> token_ids(std::int64_t n, int vocab, std::uint32_t seed) {
    std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
    for (auto& id : ids) id = std::int32_t((seed = seed * 1664525u + 1013904223u) >> 8) % vocab;
    return ids;
}

constexpr std::int64_t kMaxPrompt = 512;
constexpr std::int64_t kSource = 128;  // encoder-decoder: the source behind every decode benchmark

struct LoadedModel {
    virtual ~LoadedModel() = default;
    ModelConfig config;
    ModelKind kind{};
    WeightCensus census;
    double kv_bytes = 0;
    // The session type differs per model; benchmarks hold it as an opaque handle.
    using SessionPtr = std::shared_ptr<void>;
    virtual SessionPtr session() const = 0;
    virtual SessionPtr fork(const SessionPtr& s) const = 0;
    virtual void prompt(SessionPtr& s, std::span<const std::int32_t> tokens, ThreadPool* pool) = 0;  // from empty
    virtual void extend(SessionPtr& s, std::span<const std::int32_t> tokens, ThreadPool* pool) = 0;  // append
};

template <class Arch, ModelKind Kind>
struct Loaded final : LoadedModel {
    using M = std::conditional_t<Kind == ModelKind::encoder_decoder, EncoderDecoderModel<Arch>, Model<Arch>>;
    using Session = typename M::Session;
    M model;
    std::vector<float> out;

    Loaded(const ModelConfig& c, DType dtype) : model(c, RandomSource(1), dtype) {
        config = c;
        kind = Kind;
        census.encoder_decoder = Kind == ModelKind::encoder_decoder;
        census.matrix_bytes_per_value = dtype_size(dtype);
        typename M::Weights declarations;
        if constexpr (Kind == ModelKind::encoder_decoder)
            declarations.visit(census, model.stack_configs());
        else
            declarations.visit(census, c);
        const int attn_layers = c.n_heads ? (Kind == ModelKind::encoder_decoder ? c.n_decoder_layers : c.n_layers) : 0;
        if (Kind != ModelKind::encoder) kv_bytes = 2.0 * attn_layers * c.max_positions * c.n_kv_heads * c.head_dim * 4;
        out.resize(std::size_t((Kind == ModelKind::encoder ? kMaxPrompt : 1) * width()));
    }
    std::int64_t width() const { return Kind == ModelKind::encoder ? config.d_model : config.vocab_size; }
    Session& of(SessionPtr& s) const { return *static_cast<Session*>(s.get()); }

    SessionPtr session() const override {
        if constexpr (Kind == ModelKind::encoder_decoder)
            return std::make_shared<Session>(model.session(kMaxPrompt, kMaxPrompt));
        else
            return std::make_shared<Session>(model.session(kMaxPrompt));
    }
    SessionPtr fork(const SessionPtr& s) const override {
        return std::make_shared<Session>(*static_cast<const Session*>(s.get()));
    }
    void prompt(SessionPtr& sp, std::span<const std::int32_t> tokens, ThreadPool* pool) override {
        Session& s = of(sp);
        const auto T = std::int64_t(tokens.size());
        if constexpr (Kind == ModelKind::encoder_decoder) {  // the source, then the first target token
            model.encode(s, tokens, pool);
            model.forward(s, tokens.first(1), TensorView<float>(out.data(), {1, width()}), pool);
        } else if constexpr (Kind == ModelKind::encoder) {
            s.reset();
            model.forward(s, tokens, TensorView<float>(out.data(), {T, width()}), pool);
        } else {
            s.reset();
            model.forward(s, tokens, TensorView<float>(out.data(), {1, width()}), pool);
        }
    }
    void extend(SessionPtr& sp, std::span<const std::int32_t> tokens, ThreadPool* pool) override {
        model.forward(of(sp), tokens, TensorView<float>(out.data(), {1, width()}), pool);
    }
};

// The model of the benchmarks now running, with the contexts its decode benchmarks start from. Benchmarks of one
// model and dtype are registered together, so each model is built once and only one is resident at a time.
struct Current {
    std::string key;
    std::unique_ptr<LoadedModel> model;
    std::map<std::int64_t, LoadedModel::SessionPtr> contexts;
    std::map<int, double> read_gbs;  // read-bandwidth probe over a weight-sized buffer, by thread count
};
Current& current() {
    static Current c;
    return c;
}

using Loader = std::function<std::unique_ptr<LoadedModel>(DType)>;

LoadedModel& model_for(const std::string& name, DType dtype, const Loader& load) {
    Current& c = current();
    const std::string key = name + "/" + std::string(dtype_name(dtype));
    if (c.key != key) {
        c = Current{};  // release the previous model before building the next
        c.model = load(dtype);
        c.key = key;
    }
    return *c.model;
}

// A session holding a C-token context: built once per model (on two threads), forked by every decode benchmark.
LoadedModel::SessionPtr context_of(LoadedModel& m, std::int64_t C) {
    auto& slot = current().contexts[C];
    if (!slot) {
        ThreadPool pool(2);
        slot = m.session();
        const auto ids = token_ids(C, m.config.vocab_size, 7);
        if (m.kind == ModelKind::encoder_decoder) {
            m.prompt(slot, token_ids(kSource, m.config.vocab_size, 3), &pool);
            for (std::int64_t t = 1; t < C; t += kMaxPrompt)  // the first target token came with the prompt
                m.extend(slot, std::span(ids).subspan(std::size_t(t), std::size_t(std::min(kMaxPrompt, C - t))), &pool);
        } else {
            m.prompt(slot, std::span(ids).first(std::size_t(std::min(kMaxPrompt, C))), &pool);
            for (std::int64_t t = kMaxPrompt; t < C; t += kMaxPrompt)
                m.extend(slot, std::span(ids).subspan(std::size_t(t), std::size_t(std::min(kMaxPrompt, C - t))), &pool);
        }
    }
    return slot;
}

void run_prefill(benchmark::State& state, LoadedModel& m, std::int64_t T, int threads) {
    ThreadPool pool(threads);
    auto s = m.session();
    const auto ids = token_ids(T, m.config.vocab_size, 11);
    m.prompt(s, ids, &pool);  // warm-up: first touch of the arena and caches
    Elapsed total;
    for (auto _ : state) {
        const Stopwatch w(threads);
        m.prompt(s, ids, &pool);
        const Elapsed e = w.elapsed();
        total += e;
        state.SetIterationTime(e.wall);
    }
    const ModelConfig& c = m.config;
    // Attention: q·kᵀ and p·v, 2·2·head_dim FLOPs per head and visible key; a causal prompt sees (T+1)/2 on average.
    const int attn_layers = c.n_heads ? c.n_layers : 0;
    const double keys = m.kind == ModelKind::causal_lm ? double(T + 1) / 2 : double(T);
    const double flops_per_token = 2.0 * m.census.prefill_params + 4.0 * attn_layers * c.n_heads * c.head_dim * keys +
                                   (m.kind == ModelKind::encoder ? 0.0 : 2.0 * m.census.head_params / double(T));
    const double n = double(state.iterations()), tokens_per_s = double(T) * n / total.cpu;
    const double peak = fma_peak_gflops(pool);
    state.counters["ttft_ms"] = total.cpu / n * 1e3;
    state.counters["tokens_per_s"] = tokens_per_s;
    state.counters["wall_ttft_ms"] = total.wall / n * 1e3;
    state.counters["wall_tokens_per_s"] = double(T) * n / total.wall;
    state.counters["GFLOPS"] = flops_per_token * tokens_per_s * 1e-9;
    state.counters["fma_peak_GFLOPS"] = peak;
    state.counters["fma_fraction"] = flops_per_token * tokens_per_s * 1e-9 / peak;
}

void run_decode(benchmark::State& state, LoadedModel& m, std::int64_t C, int threads) {
    ThreadPool pool(threads);
    auto s = m.fork(context_of(m, C));
    const auto ids = token_ids(std::int64_t(state.max_iterations) + 1, m.config.vocab_size, 13);
    std::size_t i = 0;
    m.extend(s, std::span(ids).subspan(i++, 1), &pool);  // warm-up step
    Elapsed total;
    for (auto _ : state) {
        const Stopwatch w(threads);
        m.extend(s, std::span(ids).subspan(i++, 1), &pool);
        const Elapsed e = w.elapsed();
        total += e;
        state.SetIterationTime(e.wall);
    }
    auto& bw = current().read_gbs[threads];
    if (bw == 0) bw = read_gbs(pool, std::size_t(m.census.stored_bytes));
    const double tokens_per_s = double(state.iterations()) / total.cpu;
    state.counters["tokens_per_s"] = tokens_per_s;
    state.counters["wall_tokens_per_s"] = double(state.iterations()) / total.wall;
    // K/V read by the step's attention (f32 cache): at a long context, a large share of the bytes.
    const ModelConfig& c = m.config;
    const double kv_bytes = m.kv_bytes / double(c.max_positions) * double(C);
    state.counters["weight_MB_per_token"] = m.census.decode_bytes * 1e-6;
    state.counters["kv_MB_per_token"] = kv_bytes * 1e-6;
    state.counters["GB_per_s"] = m.census.decode_bytes * tokens_per_s * 1e-9;
    state.counters["read_probe_GB_per_s"] = bw;
    state.counters["bw_fraction"] = m.census.decode_bytes * tokens_per_s * 1e-9 / bw;
    state.counters["bw_fraction_with_kv"] = (m.census.decode_bytes + kv_bytes) * tokens_per_s * 1e-9 / bw;
}

// ---- Peak resident memory ---------------------------------------------------------------------------------------

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }  // Linux ≥ 4.0: VmHWM ← VmRSS
double rss_kb(const char* field) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with(field)) return std::stod(line.substr(std::string(field).size()));
    return 0;
}

void run_memory(benchmark::State& state, LoadedModel& m) {
    current().contexts.clear();  // only this benchmark's session is resident
    current().read_gbs.clear();
    // Loading leaves freed source tensors in malloc's heap (glibc raises its mmap threshold after the first large
    // free); return them to the OS, so the peak measures inference, not the loader's garbage.
    malloc_trim(0);
    reset_peak_rss();
    const double loaded = rss_kb("VmRSS:") * 1024;  // the model (and the process) before any session
    for (auto _ : state) {
        ThreadPool pool(2);
        auto s = m.session();
        const auto ids = token_ids(kMaxPrompt + 16, m.config.vocab_size, 17);
        m.prompt(s, std::span(ids).first(kMaxPrompt), &pool);
        if (m.kind != ModelKind::encoder)
            for (std::int64_t t = 0; t < 16; ++t) m.extend(s, std::span(ids).subspan(std::size_t(kMaxPrompt + t), 1), &pool);
    }
    const double peak = rss_kb("VmHWM:") * 1024, weights = m.census.stored_bytes;
    state.counters["peak_rss_MB"] = peak * 1e-6;
    state.counters["weights_MB"] = weights * 1e-6;
    state.counters["kv_MB"] = m.kv_bytes * 1e-6;
    state.counters["overhead_MB"] = (peak - weights - m.kv_bytes) * 1e-6;
    state.counters["model_rss_MB"] = loaded * 1e-6;
    state.counters["session_peak_MB"] = (peak - loaded) * 1e-6;
}

// ---- Registration -----------------------------------------------------------------------------------------------

void register_benchmarks() {
    for_each_bench_model([]<class Arch>(std::string_view name_v, ModelKind kind, const ModelConfig& config,
                                        std::type_identity<Arch>) {
        const std::string name(name_v);
        const Loader load = [config, kind](DType dtype) -> std::unique_ptr<LoadedModel> {
            if (kind == ModelKind::encoder_decoder) {
                if constexpr (requires { typename Arch::Configs; })
                    return std::make_unique<Loaded<Arch, ModelKind::encoder_decoder>>(config, dtype);
            } else if (kind == ModelKind::encoder) {
                if constexpr (!requires { typename Arch::Configs; })
                    return std::make_unique<Loaded<Arch, ModelKind::encoder>>(config, dtype);
            } else {
                if constexpr (!requires { typename Arch::Configs; })
                    return std::make_unique<Loaded<Arch, ModelKind::causal_lm>>(config, dtype);
            }
            detail::fail("bench: model kind does not match its architecture");
        };
        const bool decoder_only_yardstick = name == "t5_small_decoder";
        for (DType dtype : {DType::f32, DType::bf16}) {
            const std::string tag = name + "/" + std::string(dtype_name(dtype));
            for (int threads : {1, 2}) {
                if (!decoder_only_yardstick)
                    for (std::int64_t T : {std::int64_t(128), kMaxPrompt})
                        benchmark::RegisterBenchmark(
                            ("BM_prefill/" + tag + "/prompt:" + std::to_string(T) + "/threads:" +
                             std::to_string(threads)).c_str(),
                            [=](benchmark::State& st) { run_prefill(st, model_for(name, dtype, load), T, threads); })
                            ->UseManualTime()->Iterations(T == kMaxPrompt ? 2 : 4)->Unit(benchmark::kMillisecond);
                if (kind != ModelKind::encoder)
                    for (std::int64_t C : {128, 2048})
                        benchmark::RegisterBenchmark(
                            ("BM_decode/" + tag + "/ctx:" + std::to_string(C) + "/threads:" +
                             std::to_string(threads)).c_str(),
                            [=](benchmark::State& st) { run_decode(st, model_for(name, dtype, load), C, threads); })
                            ->UseManualTime()->Iterations(16)->Unit(benchmark::kMillisecond);
            }
            if (!decoder_only_yardstick)
                benchmark::RegisterBenchmark(("BM_memory/" + tag).c_str(),
                                             [=](benchmark::State& st) { run_memory(st, model_for(name, dtype, load)); })
                    ->Iterations(1)->Unit(benchmark::kMillisecond);
        }
    });
}

// ---- Weight export for compare_pytorch.py -----------------------------------------------------------------------

// A TensorSource that hands out RandomSource's tensors and keeps a copy of each, to be written out.
struct RecordingSource {
    RandomSource random{1};
    mutable std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>> seen;
    bool has(const std::string&) const { return true; }
    std::vector<float> read(const std::string& name, std::span<const std::int64_t> shape) const {
        auto v = random.read(name, shape);
        seen[name] = {std::vector<std::int64_t>(shape.begin(), shape.end()), v};
        return v;
    }
};

void write_safetensors(const std::string& path, const RecordingSource& src) {
    std::ostringstream header;
    header << '{';
    std::size_t offset = 0;
    for (const auto& [name, t] : src.seen) {
        if (offset || &t != &src.seen.begin()->second) header << ',';
        header << '"' << name << "\":{\"dtype\":\"F32\",\"shape\":[";
        for (std::size_t i = 0; i < t.first.size(); ++i) header << (i ? "," : "") << t.first[i];
        header << "],\"data_offsets\":[" << offset << ',' << offset + t.second.size() * 4 << "]}";
        offset += t.second.size() * 4;
    }
    header << '}';
    std::string h = header.str();
    h.append((8 - h.size() % 8) % 8, ' ');
    std::ofstream f(path, std::ios::binary);
    const std::uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(h.data(), std::streamsize(h.size()));
    for (const auto& [name, t] : src.seen)
        f.write(reinterpret_cast<const char*>(t.second.data()), std::streamsize(t.second.size() * 4));
    LAMINA_CHECK(bool(f), "bench: could not write ", path);
}

void write_config(const std::string& path, std::string_view name, const ModelConfig& c) {
    std::ofstream f(path);
    f << "{\"name\":\"" << name << "\",\"d_model\":" << c.d_model << ",\"n_layers\":" << c.n_layers
      << ",\"n_decoder_layers\":" << c.n_decoder_layers << ",\"n_heads\":" << c.n_heads << ",\"n_kv_heads\":"
      << c.n_kv_heads << ",\"head_dim\":" << c.head_dim << ",\"d_ff\":" << c.d_ff << ",\"vocab_size\":"
      << c.vocab_size << ",\"max_positions\":" << c.max_positions << ",\"norm_eps\":" << c.norm_eps
      << ",\"activation\":\"" << activation_name(c.activation) << "\",\"rope_theta\":" << c.rope_theta
      << ",\"relative_buckets\":" << c.relative_buckets << ",\"relative_max_distance\":" << c.relative_max_distance
      << ",\"ssm_state\":" << c.ssm_state << ",\"ssm_conv\":" << c.ssm_conv << ",\"ssm_expand\":" << c.ssm_expand
      << ",\"ssm_dt_rank\":" << (c.ssm_dt_rank ? c.ssm_dt_rank : (c.d_model + 15) / 16) << "}\n";
}

void export_weights(const std::string& dir, const std::string& only) {
    for_each_bench_model([&]<class Arch>(std::string_view name, ModelKind kind, const ModelConfig& c,
                                         std::type_identity<Arch>) {
        if (!only.empty() && ("," + only + ",").find("," + std::string(name) + ",") == std::string::npos) return;
        RecordingSource src;
        if constexpr (requires { typename Arch::Configs; })
            EncoderDecoderModel<Arch> m(c, src);
        else
            Model<Arch> m(c, src);
        (void)kind;
        write_safetensors(dir + "/" + std::string(name) + ".safetensors", src);
        write_config(dir + "/" + std::string(name) + ".json", name, c);
        std::printf("exported %s (%zu tensors)\n", std::string(name).c_str(), src.seen.size());
    });
}

}  // namespace

int main(int argc, char** argv) try {
    std::string export_dir, export_models;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.starts_with("--export_weights=")) export_dir = a.substr(17);
        if (a.starts_with("--export_models=")) export_models = a.substr(16);
    }
    if (!export_dir.empty()) {
        export_weights(export_dir, export_models);
        return 0;
    }
    register_benchmarks();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
} catch (const Error& e) {
    std::fprintf(stderr, "lamina_bench_models: %s\n", e.what());
    return 1;
}
