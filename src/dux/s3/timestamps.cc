#include "dux/s3/timestamps.h"

#include <time.h>

#include <array>
#include <cstdio>
#include <string>

namespace dux::s3 {

namespace {

using std::chrono::system_clock;

bool Digits(std::string_view text, size_t at, size_t count, int* out) {
  if (at + count > text.size()) return false;
  int value = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  *out = value;
  return true;
}

bool ValidFields(const tm& t) {
  return t.tm_mon >= 0 && t.tm_mon < 12 && t.tm_mday >= 1 && t.tm_mday <= 31 && t.tm_hour <= 23 &&
         t.tm_min <= 59 && t.tm_sec <= 60;
}

system_clock::time_point FromUtc(tm& t) { return system_clock::from_time_t(timegm(&t)); }

}  // namespace

Result<system_clock::time_point> ParseIso8601(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("s3: bad timestamp \"" + std::string(text) + "\"");
  };
  tm t{};
  int year = 0;
  int month = 0;
  if (!Digits(text, 0, 4, &year) || text.size() < 19 || text[4] != '-' ||
      !Digits(text, 5, 2, &month) || text[7] != '-' || !Digits(text, 8, 2, &t.tm_mday) ||
      (text[10] != 'T' && text[10] != 't') || !Digits(text, 11, 2, &t.tm_hour) || text[13] != ':' ||
      !Digits(text, 14, 2, &t.tm_min) || text[16] != ':' || !Digits(text, 17, 2, &t.tm_sec)) {
    return bad();
  }
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  if (!ValidFields(t)) return bad();
  size_t at = 19;
  int64_t micros = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int64_t scale = 100000;
    const size_t first = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      micros += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return bad();
  }
  int offset_seconds = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int hours = 0;
    int minutes = 0;
    if (!Digits(text, at + 1, 2, &hours) || at + 3 >= text.size() || text[at + 3] != ':' ||
        !Digits(text, at + 4, 2, &minutes)) {
      return bad();
    }
    offset_seconds = (hours * 3600 + minutes * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return bad();
  }
  if (at != text.size()) return bad();
  return FromUtc(t) + std::chrono::microseconds(micros) - std::chrono::seconds(offset_seconds);
}

Result<system_clock::time_point> ParseHttpDate(std::string_view text) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto bad = [&] {
    return Status::InvalidArgument("s3: bad HTTP date \"" + std::string(text) + "\"");
  };
  // "Sat, 05 Dec 2026 10:50:43 GMT": fixed positions after the day name and comma.
  const size_t comma = text.find(", ");
  if (comma == std::string_view::npos) return bad();
  std::string_view rest = text.substr(comma + 2);
  tm t{};
  int year = 0;
  if (rest.size() != 24 || !Digits(rest, 0, 2, &t.tm_mday) || rest[2] != ' ' || rest[6] != ' ' ||
      !Digits(rest, 7, 4, &year) || rest[11] != ' ' || !Digits(rest, 12, 2, &t.tm_hour) ||
      rest[14] != ':' || !Digits(rest, 15, 2, &t.tm_min) || rest[17] != ':' ||
      !Digits(rest, 18, 2, &t.tm_sec) || rest.substr(20) != " GMT") {
    return bad();
  }
  t.tm_mon = -1;
  for (size_t m = 0; m < kMonths.size(); ++m) {
    if (rest.substr(3, 3) == kMonths[m]) t.tm_mon = static_cast<int>(m);
  }
  t.tm_year = year - 1900;
  if (!ValidFields(t)) return bad();
  return FromUtc(t);
}

}  // namespace dux::s3
