// Status and Result<T>: celmatch's one error type.
//
// Errors are values. Every fallible library call returns a Status or a
// Result<T>; exceptions from third-party code (OpenCV, FAISS, nlohmann-json)
// are caught at the call site and turned into a Status, so none crosses the
// library's public boundary. Messages are written for the person running the
// tool: they name the file and say what is wrong ("dump/a.png: truncated PNG
// data"), never only an internal code.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace celmatch {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the caller asked for something impossible
    kNotFound,         // a file, source or frame does not exist
    kIoError,          // reading or writing failed at the OS level
    kCorrupt,          // data is present but malformed
    kUnsupported,      // a format or feature celmatch does not handle
    kLimitExceeded,    // a configured limit (pixels, frames, time) was hit
    kIncompatible,     // an index written with other parameters or format
    kInternal,         // a bug or an unexpected third-party failure
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
  static Status Corrupt(std::string m) { return Status(Code::kCorrupt, std::move(m)); }
  static Status Unsupported(std::string m) { return Status(Code::kUnsupported, std::move(m)); }
  static Status LimitExceeded(std::string m) { return Status(Code::kLimitExceeded, std::move(m)); }
  static Status Incompatible(std::string m) { return Status(Code::kIncompatible, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // A new Status with the same code and "prefix: message", for adding the
  // file name or the step as an error travels up.
  Status WithPrefix(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

  // Short lowercase name of the code ("corrupt", "limit_exceeded", ...).
  static const char* CodeName(Code c) {
    switch (c) {
      case Code::kOk: return "ok";
      case Code::kInvalidArgument: return "invalid_argument";
      case Code::kNotFound: return "not_found";
      case Code::kIoError: return "io_error";
      case Code::kCorrupt: return "corrupt";
      case Code::kUnsupported: return "unsupported";
      case Code::kLimitExceeded: return "limit_exceeded";
      case Code::kIncompatible: return "incompatible";
      case Code::kInternal: return "internal";
    }
    return "unknown";
  }

  std::string ToString() const { return ok() ? "OK" : message_; }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace celmatch

// Returns early from the enclosing function when a Status is not OK.
#define CELMATCH_RETURN_IF_ERROR(expr)          \
  do {                                          \
    ::celmatch::Status _st = (expr);            \
    if (!_st.ok()) return _st;                  \
  } while (0)
