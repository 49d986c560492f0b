#pragma once
// AlignedBuffer<T>: an owning, cache-line-aligned, uninitialised array. The few objects that own memory (packed
// weights, caches, arenas) hold one; everything else works on views into them.
#include "lamina/core/error.hpp"
#include "lamina/core/simd.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace lamina {

template <class T>
class AlignedBuffer {
    static_assert(std::is_trivially_copyable_v<T>, "AlignedBuffer holds plain numeric data");

public:
    AlignedBuffer() = default;
    explicit AlignedBuffer(std::size_t n) : size_(n) {
        LAMINA_CHECK(n <= std::numeric_limits<std::size_t>::max() / sizeof(T), "AlignedBuffer: ", n,
                     " elements overflow the address space");
        if (!n) return;
        try {
            data_ = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{simd::kAlign}));
        } catch (const std::bad_alloc&) {  // sizes often come from files: report them like any other bad input
            detail::fail("AlignedBuffer: cannot allocate ", n * sizeof(T), " bytes");
        }
    }
    AlignedBuffer(const AlignedBuffer& o) : AlignedBuffer(o.size_) {
        if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
    }
    AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    AlignedBuffer& operator=(AlignedBuffer o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    ~AlignedBuffer() {
        if (data_) ::operator delete(data_, std::align_val_t{simd::kAlign});
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    std::span<T> span() { return {data_, size_}; }
    std::span<const T> span() const { return {data_, size_}; }
    void fill(T v) { std::fill(data_, data_ + size_, v); }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace lamina
