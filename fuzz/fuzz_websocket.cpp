// libFuzzer target for the WebSocket frame codec, the UTF-8 validator, permessage-deflate's
// inflater and its offer negotiation. Seed corpus: fuzz/corpus/websocket/ (the first byte picks
// the options, the rest is what a client sends).
//
// Oracles (hard aborts):
//  - split consistency: the parser fed everything at once and fed byte by byte sees the same
//    frames (opcode, flags, payload) and the same error code at the same frame;
//  - no frame payload over max_frame_bytes, no frame after an error, control frames <= 125
//    bytes and final, RSV1 only when allowed, continuation only inside a message;
//  - the UTF-8 validator agrees with Qt's decoder on every text payload, whole and split;
//  - the inflater never hands out more than the limit plus one step;
//  - negotiation is stable: the accepted response, offered again, is accepted unchanged.
#include "websocket/deflate.h"
#include "websocket/frame.h"
#include "websocket/utf8validator.h"

#include <QByteArray>
#include <QList>
#include <QStringDecoder>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace Berth::WebSocket;

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

struct Seen
{
    quint8 opcode;
    bool fin;
    bool rsv1;
    QByteArray payload;
    bool operator==(const Seen &o) const
    {
        return opcode == o.opcode && fin == o.fin && rsv1 == o.rsv1 && payload == o.payload;
    }
};

struct Run
{
    QList<Seen> frames;
    int error = 0;
};

Run parseAll(const FrameOptions &options, QByteArrayView input, bool bytewise)
{
    Run run;
    FrameParser parser(options);
    QByteArray buffer;
    qsizetype pos = 0;
    const qsizetype step = bytewise ? 1 : input.size();
    for (qsizetype at = 0; at < input.size() && !run.error; at += step) {
        buffer.append(input.sliced(at, qMin(step, input.size() - at)));
        for (;;) {
            const bool inMessage = parser.inMessage();
            const auto r = parser.next(buffer, pos);
            if (r == FrameParser::Result::NeedMore)
                break;
            if (r == FrameParser::Result::Error) {
                run.error = parser.errorCode();
                check(run.error == 1002 || run.error == 1009, "error code");
                break;
            }
            const FrameHeader &h = parser.header();
            check(h.payloadLength <= options.maxFrameBytes, "frame over the limit");
            check(parser.payload().size() == h.payloadLength, "payload length");
            check(pos <= buffer.size(), "position past the buffer");
            if (h.isControl())
                check(h.fin && h.payloadLength <= 125 && !h.rsv1, "control frame rules");
            if (h.opcode == Opcode::Continuation)
                check(inMessage && !h.rsv1, "continuation rules");
            else if (!h.isControl())
                check(!inMessage, "new message inside one");
            check(options.allowRsv1 || !h.rsv1, "RSV1 without deflate");
            run.frames.append({quint8(h.opcode), h.fin, h.rsv1, parser.payload().toByteArray()});
        }
    }
    return run;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const quint8 flags = data[0];
    const QByteArrayView input(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    FrameOptions options;
    options.maxFrameBytes = (flags & 1) ? 200 : 1 << 16;
    options.allowRsv1 = (flags & 2) != 0;
    options.requireMask = (flags & 4) == 0;

    const Run whole = parseAll(options, input, false);
    if (input.size() <= 4096) {
        const Run bytewise = parseAll(options, input, true);
        check(whole.frames == bytewise.frames, "split changed the frames");
        check(whole.error == bytewise.error, "split changed the error");
    }

    Inflater inflater(DeflateParams(), 4096);
    QByteArray message;
    bool inflating = true;
    for (const Seen &f : whole.frames) {
        if (f.opcode == quint8(Opcode::Text)) {
            QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
            (void)QString(decoder(f.payload));
            check(Utf8Validator::isValid(f.payload) == !decoder.hasError(), "UTF-8 verdict");
            Utf8Validator split;
            const qsizetype cut = f.payload.size() / 2;
            const bool ok = split.feed(QByteArrayView(f.payload).first(cut)) &&
                            split.feed(QByteArrayView(f.payload).sliced(cut)) && split.isComplete();
            check(ok == !decoder.hasError(), "split UTF-8 verdict");
        }
        if (inflating && !(f.opcode & 0x8)) {
            const auto r = inflater.feed(f.payload, f.fin, message);
            check(message.size() <= 4096 + 16 * 1024 + 1, "inflated past the limit");
            if (r != Inflater::Result::Ok)
                inflating = false;
            else if (f.fin)
                message.clear();
        }
    }

    if (const auto params = negotiateDeflate(input)) {
        const QByteArray response = params->responseHeader();
        const auto again = negotiateDeflate(response);
        check(bool(again) && again->responseHeader() == response, "negotiation not stable");
    }
    return 0;
}
