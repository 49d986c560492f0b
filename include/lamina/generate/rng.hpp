#pragma once
// Rng: the random stream behind sampling, specified to the bit so a seed reproduces a run on any platform and
// standard library (std:: distributions are implementation-defined). The generator is xoshiro256** (Blackman &
// Vigna) with its state filled by SplitMix64 from the seed; uniform() takes the top 53 bits of the next output as
// a double in [0, 1).
#include <cstdint>

namespace lamina {

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) {
        for (auto& word : s_) {
            seed += 0x9E3779B97F4A7C15ull;  // SplitMix64
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            word = z ^ (z >> 31);
        }
    }

    std::uint64_t next() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // A double in [0, 1) with 53 random bits.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace lamina
