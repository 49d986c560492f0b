#pragma once
// hf::Checkpoint: the weights of a Hugging Face model directory — one `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}). Every file is memory-mapped and its header
// validated by Safetensors (the one parser); the index is checked against the shards it names, so a tensor the
// index promises but its shard lacks is an error at open time that names both.
#include "lamina/io/safetensors.hpp"

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace lamina::hf {

class Checkpoint {
public:
    static Checkpoint open(const std::filesystem::path& dir) {
        Checkpoint ck;
        const auto single = dir / "model.safetensors", index = dir / "model.safetensors.index.json";
        if (std::filesystem::exists(index)) {
            ck.open_index(dir, index.string());
        } else {
            LAMINA_CHECK(std::filesystem::exists(single), dir.string(),
                         ": no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are "
                         "supported)");
            ck.files_.push_back(Safetensors::open(single.string()));
            for (const auto& [name, entry] : ck.files_[0].tensors()) ck.where_.emplace(name, 0);
        }
        return ck;
    }

    bool contains(const std::string& tensor) const { return where_.count(tensor) != 0; }
    // The file holding a tensor (its name() is the path errors should cite).
    const Safetensors& file_of(const std::string& tensor) const {
        const auto it = where_.find(tensor);
        LAMINA_CHECK(it != where_.end(), "checkpoint: no tensor \"", tensor, "\"");
        return files_[it->second];
    }
    const TensorEntry& at(const std::string& tensor) const { return file_of(tensor).at(tensor); }
    const std::vector<Safetensors>& files() const { return files_; }
    std::size_t tensor_count() const { return where_.size(); }

private:
    void open_index(const std::filesystem::path& dir, const std::string& index_path) {
        const MappedFile text(index_path);
        const auto index = detail::parse_json_strict(
            std::string_view(reinterpret_cast<const char*>(text.bytes().data()), text.bytes().size()), index_path);
        LAMINA_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), index_path,
                     ": expected an object with a \"weight_map\" object");
        std::unordered_map<std::string, std::size_t> shard_index;
        for (const auto& [tensor, shard] : index["weight_map"].items()) {
            LAMINA_CHECK(shard.is_string(), index_path, ": weight_map entry \"", tensor, "\" is not a file name");
            const std::string file = shard.get<std::string>();
            // Shards live next to the index: a path that climbs out of the directory is refused.
            LAMINA_CHECK(!file.empty() && file.find('/') == std::string::npos && file != "." && file != "..",
                         index_path, ": weight_map entry \"", tensor, "\" names \"", file,
                         "\", not a file in the model directory");
            auto [it, added] = shard_index.emplace(file, files_.size());
            if (added) files_.push_back(Safetensors::open((dir / file).string()));
            LAMINA_CHECK(files_[it->second].contains(tensor), index_path, ": tensor \"", tensor, "\" is listed in ",
                         file, ", which does not hold it");
            where_.emplace(tensor, it->second);
        }
    }

    std::vector<Safetensors> files_;
    std::unordered_map<std::string, std::size_t> where_;  // tensor name → index into files_
};

}  // namespace lamina::hf
