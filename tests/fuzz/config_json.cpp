// Fuzz target: config.json on arbitrary text — Python literals, model_type, every preset's choice and mapping to a
// ModelConfig (HF defaults, nested rope_scaling, per-family keys) and ModelConfig::validate. Every preset maps every
// input, not only the one its model_type names, so each mapping sees hostile values of every key.
#include "fuzz_input.hpp"
#include "lamina/io/hf/presets.hpp"

namespace {

template <class... Ps>
void map_with_every_preset(lamina::hf::PresetList<Ps...>, const lamina::hf::ConfigJson& j, const std::string& type) {
    (lamina::fuzz::expect_only_lamina_errors([&] {
         (void)lamina::hf::takes<Ps>(j, type);
         Ps::config(j).validate();
     }),
     ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const lamina::fuzz::FuzzInput in(data, size);
    lamina::fuzz::expect_only_lamina_errors([&] {
        const std::string where = "fuzz/config.json";
        const lamina::hf::ConfigJson j(
            lamina::detail::parse_json_strict(lamina::hf::ConfigJson::quote_python_literals(in.rest()), where), where);
        std::string type;
        lamina::fuzz::expect_only_lamina_errors([&] { type = j.require<std::string>("model_type"); });
        map_with_every_preset(lamina::hf::DefaultPresets{}, j, type);
    });
    return 0;
}
