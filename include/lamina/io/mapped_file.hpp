#pragma once
// MappedFile: a read-only memory map of a whole file (POSIX). Checkpoints are mapped rather than read so f32
// tensors can be used in place and pages are shared between processes loading the same model.
#include "lamina/core/error.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lamina {

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path) : path_(path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        LAMINA_CHECK(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            detail::fail(path, ": not a regular file");
        }
        size_ = std::size_t(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                detail::fail(path, ": cannot map ", size_, " bytes (", std::strerror(err), ")");
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd);
    }
    MappedFile(MappedFile&& o) noexcept
        : path_(std::move(o.path_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    MappedFile& operator=(MappedFile&& o) noexcept {
        if (this != &o) {
            unmap();
            path_ = std::move(o.path_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() { unmap(); }

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

    // Drops the resident pages that lie wholly inside `range` (a part of bytes()). The map is read-only and
    // file-backed, so this loses nothing: a later read faults the pages in from the file again. Loaders call it
    // once a tensor has been packed, so peak resident memory is the packed weights, not packed + mapped.
    void release(std::span<const std::byte> range) const {
        if (!data_ || range.empty()) return;
        // Whole pages only, found by pointer arithmetic within the map (a page-aligned base) rather than by casting
        // integers back to pointers.
        const auto page = std::size_t(::sysconf(_SC_PAGESIZE));
        const auto offset = std::size_t(range.data() - data_);
        const std::size_t first = (offset + page - 1) / page * page, last = (offset + range.size()) / page * page;
        if (last > first) ::madvise(const_cast<std::byte*>(data_) + first, last - first, MADV_DONTNEED);
    }

private:
    void unmap() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
        data_ = nullptr;
    }
    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace lamina
