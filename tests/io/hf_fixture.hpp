#pragma once
// Helpers of the Hugging Face model-directory tests (hf_test.cpp, hf_presets_test.cpp): the fixture directories of
// tests/reference/hf_checkpoints.py and hf_bert_t5_ssm.py, scratch copies with an edited config.json, and the error
// a directory gives when loaded.
#include "lamina/io/hf/model_dir.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

namespace lamina::test {

inline std::filesystem::path hf_fixture(const std::string& name) {
    return std::filesystem::path(LAMINA_FIXTURE_DIR) / "hf" / name;
}

// Copies a fixture to a fresh temporary directory whose config.json the test may edit; removed again at the end.
struct ScratchDir {
    std::filesystem::path path;
    explicit ScratchDir(const std::string& fixture) {
        path = std::filesystem::temp_directory_path() /
               ("lamina_hf_test_" + fixture + "_" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::copy(hf_fixture(fixture), path);
    }
    ~ScratchDir() { std::filesystem::remove_all(path); }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    // config.json as the loader reads it (Python's bare Infinity/NaN quoted).
    nlohmann::json config() const {
        std::ifstream in(path / "config.json");
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return nlohmann::json::parse(hf::ConfigJson::quote_python_literals(text));
    }
    void write_config(const nlohmann::json& j) const { std::ofstream(path / "config.json") << j.dump(); }
};

// The message of the Error that loading `dir` throws, or "(no error)".
inline std::string load_error(const std::filesystem::path& dir) {
    try {
        hf::with_model(dir, {}, [](const auto&) {});
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// load_error of a copy of the fixture whose config.json `edit` changed.
template <class Edit>
std::string load_error_edited(const std::string& fixture, Edit&& edit) {
    ScratchDir s(fixture);
    auto j = s.config();
    edit(j);
    s.write_config(j);
    return load_error(s.path);
}

}  // namespace lamina::test
