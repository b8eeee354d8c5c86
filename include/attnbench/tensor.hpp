// A 64-byte aligned float buffer: what the host hands to backends, and what backends use for
// their workspace. Allocate in prepare (the constructor), never in run.
#ifndef ATTNBENCH_TENSOR_HPP_
#define ATTNBENCH_TENSOR_HPP_

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace attnbench {

inline constexpr size_t kAlignment = 64;

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    // aligned_alloc wants a size that is a multiple of the alignment.
    size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    data_ = static_cast<T*>(std::aligned_alloc(kAlignment, bytes));
    if (!data_) throw std::bad_alloc();
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  void Fill(T v) {
    for (size_t i = 0; i < size_; ++i) data_[i] = v;
  }
  void CopyFrom(const T* src) {
    if (size_) std::memcpy(data_, src, bytes());
  }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace attnbench

#endif  // ATTNBENCH_TENSOR_HPP_
