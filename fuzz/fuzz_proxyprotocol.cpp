// libFuzzer target for the PROXY protocol header parser. Seed corpus: fuzz/corpus/proxyprotocol/.
//
// Oracles (hard aborts):
//  - API invariants: Complete has 0 < length <= input and (v1) length <= 107; Invalid has a
//    reason; addresses only on Complete; the header's bytes alone parse the same;
//  - prefix consistency: every prefix of a Complete or Incomplete input is Incomplete (the
//    reader consumes an incomplete header's bytes, so none of them may later turn out to be
//    the client's);
//  - trailing bytes never change a Complete result.
#include "engine/proxyprotocol.h"

#include <QByteArray>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace Berth::Engine;
using Status = ProxyHeader::Status;

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

bool same(const ProxyHeader &a, const ProxyHeader &b)
{
    return a.status == b.status && a.version == b.version && a.length == b.length &&
           a.hasAddresses == b.hasAddresses && a.source == b.source &&
           a.sourcePort == b.sourcePort && a.destination == b.destination &&
           a.destinationPort == b.destinationPort && a.ssl == b.ssl;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));
    const ProxyHeader h = parseProxyHeader(input);
    switch (h.status) {
    case Status::Complete:
        check(h.length > 0 && h.length <= input.size(), "length outside the input");
        check(h.version != 1 || h.length <= ProxyHeader::MaxV1Bytes, "v1 over 107 bytes");
        check(same(parseProxyHeader(input.first(h.length)), h), "header alone parses differently");
        check(same(parseProxyHeader(input.first(h.length).toByteArray() + "GET / HTTP/1.1\r\n"), h),
              "trailing bytes changed the result");
        break;
    case Status::Invalid:
        check(h.error && *h.error, "Invalid without a reason");
        check(!h.hasAddresses, "addresses on Invalid");
        break;
    case Status::Incomplete:
        check(!h.hasAddresses, "addresses on Incomplete");
        check(h.version != 1 || input.size() < ProxyHeader::MaxV1Bytes, "v1 incomplete at 107");
        break;
    }
    if (h.status != Status::Invalid) {
        const qsizetype end = h.status == Status::Complete ? h.length : input.size();
        // Every cut for short inputs, a few otherwise.
        const qsizetype step = end <= 300 ? 1 : end / 64;
        for (qsizetype cut = 0; cut < end; cut += step) {
            if (parseProxyHeader(input.first(cut)).status != Status::Incomplete)
                violated("a prefix of a header is not Incomplete");
        }
    }
    return 0;
}
