// Little-endian fixed-width encoding of integers and length-prefixed byte
// strings, shared by every wire and disk format (see docs/storage-format.md and
// docs/protocol.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "sqlsync/status.h"
#include "sqlsync/types.h"

namespace sqlsync {

// Appends encoded fields to a byte buffer it does not own.
// "*out" must remain live while this Encoder is in use.
class Encoder {
 public:
  explicit Encoder(Bytes* out) : out_(out) {}

  void u8(uint8_t v) { out_->push_back(v); }
  void u16(uint16_t v) { fixed(v, 2); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void raw(ByteView bytes) { out_->insert(out_->end(), bytes.begin(), bytes.end()); }
  // u32 length, then the bytes.
  void bytes32(ByteView bytes) {
    u32(static_cast<uint32_t>(bytes.size()));
    raw(bytes);
  }
  void journal_id(const JournalId& id) { raw(id.view()); }
  size_t size() const { return out_->size(); }

 private:
  void fixed(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes* out_;
};

// Reads encoded fields from a byte view it does not own, with bounds checks.
// Every read past the end returns `error_code` (InvalidArgument for wire
// messages, Corruption for stored data) naming `what`.
class Decoder {
 public:
  Decoder(ByteView input, StatusCode error_code, std::string what)
      : input_(input), error_code_(error_code), what_(std::move(what)) {}

  Result<uint8_t> u8() { return fixed<uint8_t>(1); }
  Result<uint16_t> u16() { return fixed<uint16_t>(2); }
  Result<uint32_t> u32() { return fixed<uint32_t>(4); }
  Result<uint64_t> u64() { return fixed<uint64_t>(8); }
  // A view of the next `length` bytes (valid as long as the input).
  Result<ByteView> raw(size_t length) {
    if (remaining() < length) return truncated(length);
    ByteView view = input_.subspan(position_, length);
    position_ += length;
    return view;
  }
  // u32 length, then that many bytes; the length may not exceed `max_length`.
  Result<ByteView> bytes32(size_t max_length) {
    SQLSYNC_ASSIGN_OR_RETURN(uint32_t length, u32());
    if (length > max_length) {
      return Status(error_code_, what_ + ": length " + std::to_string(length) + " exceeds limit " +
                                     std::to_string(max_length));
    }
    return raw(length);
  }
  Result<JournalId> journal_id() {
    SQLSYNC_ASSIGN_OR_RETURN(ByteView view, raw(JournalId::kSize));
    return JournalId::from_bytes(view);
  }

  size_t position() const { return position_; }
  size_t remaining() const { return input_.size() - position_; }
  // Error unless every byte was consumed.
  Status expect_end() const {
    if (remaining() == 0) return Status::ok();
    return Status(error_code_, what_ + ": " + std::to_string(remaining()) + " trailing bytes");
  }
  // An error of this decoder's kind, e.g. for a bad field value.
  Status error(const std::string& message) const { return Status(error_code_, what_ + ": " + message); }

 private:
  template <typename T>
  Result<T> fixed(size_t width) {
    if (remaining() < width) return truncated(width);
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(input_[position_ + i]) << (8 * i);
    position_ += width;
    return static_cast<T>(v);
  }
  Status truncated(size_t wanted) const {
    return Status(error_code_, what_ + ": truncated (needed " + std::to_string(wanted) + " bytes at offset " +
                                   std::to_string(position_) + ", " + std::to_string(remaining()) +
                                   " left)");
  }

  ByteView input_;
  size_t position_ = 0;
  StatusCode error_code_;
  std::string what_;
};

// A little-endian u16 at `p` (for formats read in place, after their bounds
// were checked).
inline uint16_t load_little_endian16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Big-endian reads of SQLite's own on-disk fields (page headers, ptrmap).
inline uint32_t load_big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void store_big_endian32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace sqlsync
