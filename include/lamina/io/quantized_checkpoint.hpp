#pragma once
// Quantized checkpoints: a safetensors file under lamina's paths in which the matrices chosen by the quantization
// policy (layers/weight_format.hpp) are stored as blocks, everything else as F32. Format version 1:
//
//   __metadata__   "lamina.quantization": "q8" | "q4"   (the format requested; the LM head is q8 under q4)
//                  "lamina.quantization_version": "1"
//   <name>.q8      I8 [rows, blocks·32]   q per element                      } the canonical layout of
//   <name>.q4      U8 [rows, blocks·16]   two nibbles q + 8 per byte         } kernels/quant/formats.hpp
//   <name>.scales  F32 [rows, blocks]     one scale per block of 32, finite
//
// where <name> is the matrix's lamina name ("layers.0.attn.q.weight") and blocks = ceil(cols / 32). A matrix's
// plain <name> is absent, so a reader that does not know the format fails on it (Safetensors::at names the
// quantized tensor), and SafetensorsSource refuses files of an unknown format or version up front.
//
// quantize_checkpoint<Arch>(...) writes such a file from any TensorSource (what `lamina quantize` calls);
// loading it is Model<Arch>(config, SafetensorsSource(path)) — the blocks are repacked, never re-quantized.
#include "lamina/io/safetensors_writer.hpp"
#include "lamina/layers/weights.hpp"

namespace lamina {

inline constexpr const char* kQuantizationKey = "lamina.quantization";
inline constexpr const char* kQuantizationVersionKey = "lamina.quantization_version";
inline constexpr const char* kQuantizationVersion = "1";

// The file's quantization format (nullopt: not a quantized checkpoint). Throws for a format or version this build
// does not know, naming both.
inline std::optional<QuantFormat> checkpoint_quantization(const Safetensors& file) {
    const auto& meta = file.metadata();
    const auto it = meta.find(kQuantizationKey);
    if (it == meta.end()) return std::nullopt;
    const auto version = meta.find(kQuantizationVersionKey);
    const std::string v = version == meta.end() ? "(none)" : version->second;
    const auto format = parse_quant_format(it->second);
    LAMINA_CHECK(format && v == kQuantizationVersion, file.name(), ": quantized with format \"", it->second,
                 "\" version ", v, ", which this build of lamina cannot read (it reads q8 and q4, version ",
                 kQuantizationVersion, ")");
    return format;
}

// The blocks of matrix `name` [rows, cols] if the file stores it quantized, else nullopt. Every disagreement
// between the value and scale tensors and the expected shape is an error naming the tensor.
inline std::optional<QuantBlocks> read_quantized_blocks(const Safetensors& file, const std::string& name,
                                                        std::int64_t rows, std::int64_t cols) {
    const bool q8 = file.contains(name + ".q8"), q4 = file.contains(name + ".q4");
    if (!q8 && !q4) return std::nullopt;
    const std::string what = file.name() + ": \"" + name + "\"";
    LAMINA_CHECK(!(q8 && q4), what, " is stored both as q8 and as q4");
    QuantBlocks q{q8 ? QuantFormat::q8 : QuantFormat::q4, rows, cols, {}, {}};
    const TensorEntry& values = file.at(name + (q8 ? ".q8" : ".q4"));
    LAMINA_CHECK(file.contains(name + ".scales"), what, ": quantized values without \"", name, ".scales\"");
    const TensorEntry& scales = file.at(name + ".scales");
    const std::vector<std::int64_t> values_shape = {rows, q.row_bytes()}, scales_shape = {rows, q.blocks_per_row()};
    const FileDType values_dtype = q8 ? FileDType::I8 : FileDType::U8;
    LAMINA_CHECK(values.dtype == values_dtype && values.shape == values_shape, what, ": ", values.name, " is ",
                 detail::file_dtype_info(values.dtype).first, " ", Safetensors::shape_string(values.shape),
                 ", expected ", detail::file_dtype_info(values_dtype).first, " ", Safetensors::shape_string(values_shape),
                 " for a [", rows, ", ", cols, "] matrix");
    LAMINA_CHECK(scales.dtype == FileDType::F32 && scales.shape == scales_shape, what, ": ", scales.name, " is ",
                 detail::file_dtype_info(scales.dtype).first, " ", Safetensors::shape_string(scales.shape),
                 ", expected F32 ", Safetensors::shape_string(scales_shape));
    const auto* v = reinterpret_cast<const std::uint8_t*>(values.bytes.data());
    q.values.assign(v, v + values.bytes.size());
    q.scales.resize(scales.bytes.size() / sizeof(float));
    std::memcpy(q.scales.data(), scales.bytes.data(), scales.bytes.size());
    q.validate(what);
    return q;
}

// The WeightVisitor behind quantize_checkpoint: reads every declared tensor from the source and records it as the
// loader would hold it — blocks where quantization_for says so, F32 otherwise. A tied head is not stored (the
// loader derives it from the embedding table, as it does for an f32 file).
template <TensorSource Source>
class CheckpointQuantizer : public LinearAsStack<CheckpointQuantizer<Source>> {
public:
    CheckpointQuantizer(const Source& source, QuantFormat format) : source_(source), format_(format) {}

    bool has(const std::string& name) const { return source_.has(name); }

    void linear_stacked(const std::string& path, std::span<const std::string> parts, std::span<const std::int64_t> rows,
                        std::int64_t in, bool bias, Linear&) {
        std::int64_t out = 0;
        for (auto r : rows) out += r;
        const auto q = quantization_for(WeightPolicy{weight_format(format_)}, path, out, in);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            const std::string base = parts[i].empty() ? path : path + "." + parts[i];
            const std::int64_t shape[2] = {rows[i], in};
            const auto w = source_.read(base + ".weight", shape);
            if (q) {
                const QuantBlocks b = quantize(TensorView<const float>(w.data(), {rows[i], in}), *q);
                writer_.add(base + ".weight." + std::string(quant_format_name(*q)),
                            *q == QuantFormat::q8 ? FileDType::I8 : FileDType::U8, {rows[i], b.row_bytes()},
                            std::span<const std::uint8_t>(b.values));
                writer_.add(base + ".weight.scales", FileDType::F32, {rows[i], b.blocks_per_row()},
                            std::span<const float>(b.scales));
            } else {
                add_f32(base + ".weight", w, {rows[i], in});
            }
            if (bias) add_f32(base + ".bias", source_.read(base + ".bias", std::span<const std::int64_t>(shape, 1)), {rows[i]});
        }
    }

    void tensor(const std::string& name, AlignedBuffer<float>&, std::span<const std::int64_t> shape) {
        add_f32(name, source_.read(name, shape), {shape.begin(), shape.end()});
    }

    void linear_from(const std::string&, Linear&, const AlignedBuffer<float>&, std::int64_t, std::int64_t) {}

    void write(const std::string& path, const std::map<std::string, std::string>& metadata) {
        for (const auto& [k, v] : metadata) writer_.set_metadata(k, v);
        writer_.set_metadata(kQuantizationKey, std::string(quant_format_name(format_)));
        writer_.set_metadata(kQuantizationVersionKey, kQuantizationVersion);
        writer_.write(path);
    }

private:
    void add_f32(const std::string& name, const std::vector<float>& v, std::vector<std::int64_t> shape) {
        writer_.add(name, FileDType::F32, std::move(shape), std::span<const float>(v));
    }

    const Source& source_;
    QuantFormat format_;
    SafetensorsWriter writer_;
};

// Writes the weights Arch declares, read from `source`, as a quantized checkpoint at out_path. `metadata` is copied
// into the header (e.g. {"config": <config.json text>}), next to the quantization keys.
template <class Arch, TensorSource Source>
void quantize_checkpoint(const ModelConfig& config, const Source& source, QuantFormat format,
                         const std::string& out_path, const std::map<std::string, std::string>& metadata = {}) {
    config.validate();
    typename Arch::Weights weights;
    CheckpointQuantizer<Source> quantizer(source, format);
    weights.visit(quantizer, config);
    quantizer.write(out_path, metadata);
}

}  // namespace lamina
