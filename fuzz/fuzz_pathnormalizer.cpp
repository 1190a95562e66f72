// libFuzzer target for the path normaliser. Seed corpus: fuzz/corpus/pathnormalizer/.
//
// Oracles (hard aborts):
//  - invariants of an accepted path: starts with '/', no "//", no "." or ".." segment, no
//    control byte, never longer than the input;
//  - a refused path leaves the output empty;
//  - a differential reference: decode, split on '/', and walk a segment stack, the textbook
//    way with allocations everywhere; both must accept the same paths with the same result.
#include "http/pathnormalizer.h"

#include <QByteArray>
#include <QList>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace Berth::Http;

namespace {

[[noreturn]] void violated(const char *what)
{
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char *what)
{
    if (!ok)
        violated(what);
}

bool reference(QByteArrayView raw, QByteArray &out)
{
    if (raw.isEmpty() || raw[0] != '/')
        return false;
    QByteArray decoded;
    for (qsizetype i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size())
                return false;
            const QByteArray hex = raw.sliced(i + 1, 2).toByteArray();
            bool ok = false;
            const int v = hex.toInt(&ok, 16);
            // toInt accepts a sign or spaces; the grammar is exactly two HEXDIG.
            if (!ok || !std::isxdigit(uchar(hex[0])) || !std::isxdigit(uchar(hex[1])))
                return false;
            c = char(v);
            i += 2;
        }
        if (uchar(c) < 0x20 || uchar(c) == 0x7f)
            return false;
        decoded += c;
    }
    const QList<QByteArray> parts = decoded.mid(1).split('/');
    QList<QByteArray> stack;
    for (const QByteArray &part : parts) {
        if (part.isEmpty() || part == ".")
            continue;
        if (part == "..") {
            if (stack.isEmpty())
                return false;
            stack.removeLast();
            continue;
        }
        stack.append(part);
    }
    const QByteArray &last = parts.last();
    const bool directory = last.isEmpty() || last == "." || last == "..";
    out = "/" + stack.join('/');
    if (directory && !stack.isEmpty())
        out += '/';
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView raw(reinterpret_cast<const char *>(data), qsizetype(size));
    QByteArray out = "previous";
    const bool ok = normalizePath(raw, out);
    QByteArray expected;
    const bool refOk = reference(raw, expected);
    if (ok != refOk)
        violated("normalizePath and the reference disagree on acceptance");
    if (!ok) {
        check(out.isEmpty(), "refused path left output behind");
        return 0;
    }
    if (out != expected)
        violated("normalizePath and the reference disagree on the result");

    check(out.startsWith('/'), "does not start with '/'");
    check(out.size() <= raw.size(), "longer than the input");
    check(!out.contains("//"), "contains //");
    check(!out.contains("/./") && !out.endsWith("/."), "contains a . segment");
    check(!out.contains("/../") && !out.endsWith("/.."), "contains a .. segment");
    for (char c : out)
        check(uchar(c) >= 0x20 && uchar(c) != 0x7f, "control byte in output");

    // A fixed point once its literal '%'s are escaped again: nothing is left to resolve.
    QByteArray again;
    if (!normalizePath(QByteArray(out).replace("%", "%25"), again) || again != out)
        violated("not idempotent");
    return 0;
}
