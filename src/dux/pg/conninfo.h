// libpq connection strings made safe to show: passwords removed before a connection string
// (or a message quoting one) reaches explain, an error, telemetry or a log.
#pragma once

#include <string>
#include <string_view>

namespace dux::pg {

/// `conninfo` with every password replaced by "***": the value of `password=` in the
/// keyword/value form (quoted or not, backslash escapes included), and in the URI form
/// (`postgresql://` or `postgres://`) the password of `user:password@` and any `password=`
/// query parameter. Everything else is kept as written. Works on any text, including
/// malformed connection strings (a `password` keyword without a value loses the rest of its
/// word). Pure and thread-safe.
std::string Redact(std::string_view conninfo);

/// The password `conninfo` spells out (decoded as libpq would: quotes and backslashes in
/// the keyword/value form, %XX in a URI), or "" when it has none. Used to scrub messages
/// that might quote it. Pure and thread-safe.
std::string PasswordOf(std::string_view conninfo);

/// Any text (an error message that may quote a connection string, a script) with every
/// password in it replaced by "***": the value after each `password=` (any case, spaces
/// around `=`, quoted or up to the next blank) and the password of every
/// `postgres[ql]://user:password@`. May hide a little more than the password (a quote
/// after it). Pure and thread-safe.
std::string RedactText(std::string_view text);

/// `message` with every occurrence of `conninfo`'s password (and of `conninfo` itself)
/// replaced by its redacted form. A password shorter than 4 characters is not searched
/// for, to avoid mangling messages. Pure and thread-safe.
std::string Scrub(std::string message, std::string_view conninfo);

}  // namespace dux::pg
