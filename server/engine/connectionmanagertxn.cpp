// Transaction ids (X-Berth-Txn, request.log): "<process prefix>-<hex counter>", unique within
// the process, formatted without allocation on the request path.
#include "connectionmanager.h"

#include <QRandomGenerator>

#include <atomic>
#include <charconv>
#include <cstring>

namespace Berth::Engine {

namespace {

const QByteArray &processTxnPrefix()
{
    static const QByteArray prefix =
        QByteArray::number(QRandomGenerator::system()->generate(), 16).rightJustified(8, '0');
    return prefix;
}

std::atomic<quint64> &txnCounter()
{
    static std::atomic<quint64> counter{0};
    return counter;
}

// Each thread takes ids from the process-wide counter a block at a time: one shared
// read-modify-write per TxnBlock requests instead of one per request, so event-loop threads do
// not bounce the counter's cache line between cores. Ids stay unique in the process; across
// threads they are no longer in the order the requests came.
constexpr quint64 TxnBlock = 1024;

quint64 nextTxnNumber()
{
    thread_local quint64 next = 0;
    thread_local quint64 end = 0;
    if (next == end) {
        next = txnCounter().fetch_add(TxnBlock, std::memory_order_relaxed) + 1;
        end = next + TxnBlock;
    }
    return next++;
}

} // namespace

QByteArray ConnectionManager::nextTxnId()
{
    QByteArray txn;
    nextTxnId(txn);
    return txn;
}

void ConnectionManager::nextTxnId(QByteArray &txn)
{
    const quint64 n = nextTxnNumber();
    // Formatted in a fixed buffer, then copied into txn's own buffer when it has one that
    // nobody shares (an app that kept the previous id keeps it: txn is then a new array).
    const QByteArray &prefix = processTxnPrefix();
    char text[64];
    std::memcpy(text, prefix.constData(), size_t(prefix.size()));
    char *end = text + prefix.size();
    *end++ = '-';
    end = std::to_chars(end, text + sizeof(text), n, 16).ptr;
    const qsizetype length = end - text;
    if (txn.isDetached() && txn.capacity() >= length) {
        txn.resize(length);
        std::memcpy(txn.data(), text, size_t(length));
    } else {
        txn = QByteArray(text, length);
    }
}

} // namespace Berth::Engine
