#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>

namespace Berth::Apps {

// One log record as Python's logging.handlers.HTTPHandler sends it: the LogRecord's __dict__
// through urllib.parse.urlencode (every value str()-ed: "None", "()", "1700000000.123").
using LogRecordFields = QList<QPair<QString, QString>>;

// application/x-www-form-urlencoded (a POST body or a query string): fields split on '&',
// '+' read as a space, %XX decoded, UTF-8. A name given twice keeps its first position and its
// last value; fields with an empty name are dropped. Malformed escapes are kept literally, as
// Python's parse_qs does.
LogRecordFields parseUrlEncoded(QByteArrayView data);

// The record as one compact JSON object (no newline). Keys and their order are as received;
// numeric LogRecord attributes (created, msecs, relativeCreated, lineno, levelno, process,
// thread) become JSON numbers, and Python's "None" becomes null for them and for the optional
// attributes (exc_info, exc_text, stack_info, taskName).
QByteArray logRecordJson(const LogRecordFields &fields);

// The record in the form Python's logging.Formatter would print it, for people reading the
// file: "2026-11-21 20:05:06,123 WARNING myapp [path/file.py:42] message", then the lines of a
// multi-line message and of exc_text / stack_info indented by four spaces. The message is the
// formatted `message` when the record has one, else `msg` followed by " % <args>" when there are
// arguments (HTTPHandler does not format). One string with
// '\n' between lines and none at the end. Control characters are shown as '?'.
QByteArray logRecordText(const LogRecordFields &fields);

} // namespace Berth::Apps
