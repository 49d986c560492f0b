// lamina forward --model DIR --ids 5,17,3 [--decoder-ids 0,4] --out out.npy: one forward pass, the model's main
// output saved as float32 .npy — logits [T, vocab] for a causal LM, decoder logits [T_dec, vocab] for an
// encoder-decoder (the --ids are the encoder input), the last hidden state [T, d_model] for an encoder. Prints the
// shape and, for logits, the argmax of every row.
#include "commands.hpp"

#include <cstdio>

namespace lamina::cli {

namespace {

void check_length(const char* option, std::size_t n, const ModelConfig& c) {
    LAMINA_CHECK(std::int64_t(n) <= c.max_positions, option, ": ", n, " tokens exceed the model's context of ",
                 c.max_positions);
}

void report(const std::string& out, const std::vector<float>& values, std::int64_t rows, std::int64_t cols,
            bool logits) {
    const std::int64_t shape[] = {rows, cols};
    write_npy(out, values, shape);
    std::printf("wrote %s: float32 [%lld, %lld] %s\n", out.c_str(), static_cast<long long>(rows),
                static_cast<long long>(cols), logits ? "logits" : "hidden states");
    if (!logits) return;
    std::printf("argmax:");
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* row = values.data() + r * cols;
        std::printf(" %lld", static_cast<long long>(std::max_element(row, row + cols) - row));
    }
    std::printf("\n");
}

}  // namespace

int run_forward(Args& args) {
    const std::string model_dir = args.require("model"), out = args.require("out");
    const auto ids = args.ids("ids");
    const auto decoder_ids = args.get("decoder-ids") ? args.ids("decoder-ids") : std::vector<std::int32_t>{};
    const hf::LoadOptions options = load_options(args);
    ThreadPool pool(thread_count(args));
    args.finish();

    hf::with_model(model_dir, options, [&](const auto& model) {
        using M = std::remove_cvref_t<decltype(model)>;
        const ModelConfig& c = model.config();
        const std::int64_t T = std::int64_t(ids.size());
        if constexpr (EncoderDecoderLm<M>) {
            LAMINA_CHECK(!decoder_ids.empty(), "--decoder-ids: an encoder-decoder model needs decoder input ids");
            check_length("--ids", ids.size(), c);
            check_length("--decoder-ids", decoder_ids.size(), c);
            const std::int64_t D = std::int64_t(decoder_ids.size());
            std::vector<float> logits(std::size_t(D * c.vocab_size));
            auto s = model.session(D, T);
            model.encode(s, ids, &pool);
            model.forward(s, decoder_ids, TensorView<float>(logits.data(), {D, c.vocab_size}), &pool);
            report(out, logits, D, c.vocab_size, true);
        } else {
            LAMINA_CHECK(decoder_ids.empty(), "--decoder-ids: only encoder-decoder models take decoder ids");
            check_length("--ids", ids.size(), c);
            const std::int64_t W = EncoderOnly<M> ? c.d_model : c.vocab_size;
            std::vector<float> output(std::size_t(T * W));
            auto s = model.session(T);
            model.forward(s, ids, TensorView<float>(output.data(), {T, W}), &pool);
            report(out, output, T, W, CausalLm<M>);
        }
    });
    return 0;
}

}  // namespace lamina::cli
