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

// "<8 hex digits>-<up to 16 hex digits>" fits.
constexpr int TxnTextCapacity = 32;

// The calling thread's current id as text, "<prefix>-<hex>": consecutive numbers of a block
// only change the last hex digits, so the text is counted up in place (an odometer, a few
// instructions) instead of being formatted again per request.
struct TxnText
{
    quint64 next = 0; // the number the next id gets
    quint64 end = 0;  // the end of the thread's block
    int length = 0;
    char text[TxnTextCapacity];
};

void formatTxn(TxnText &t)
{
    const QByteArray &prefix = processTxnPrefix();
    std::memcpy(t.text, prefix.constData(), size_t(prefix.size()));
    char *end = t.text + prefix.size();
    *end++ = '-';
    end = std::to_chars(end, t.text + sizeof(t.text), t.next, 16).ptr;
    t.length = int(end - t.text);
}

// Steps the text to the next number; false when a digit more is needed (formatTxn then).
bool countUp(TxnText &t)
{
    for (char *digit = t.text + t.length - 1; *digit != '-'; --digit) {
        if (*digit == 'f') {
            *digit = '0'; // and carry
        } else {
            *digit = *digit == '9' ? 'a' : char(*digit + 1);
            return true;
        }
    }
    return false;
}

// The text of the next id of the calling thread.
const TxnText &nextTxnText()
{
    thread_local TxnText t;
    if (t.next == t.end) {
        t.next = txnCounter().fetch_add(TxnBlock, std::memory_order_relaxed) + 1;
        t.end = t.next + TxnBlock;
        formatTxn(t);
    } else if (!countUp(t)) {
        formatTxn(t);
    }
    ++t.next;
    return t;
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
    const TxnText &t = nextTxnText();
    // Copied into txn's own buffer when it has one that nobody shares (an app that kept the
    // previous id keeps it: txn is then a new array). A fixed-size copy (inline moves, no
    // memcpy call); the bytes past the length are cut off by setSize().
    QByteArray::DataPointer *d = &txn.data_ptr();
    if (d->needsDetach() || d->freeSpaceAtBegin() != 0 ||
        d->constAllocatedCapacity() < TxnTextCapacity) {
        QByteArray fresh(TxnTextCapacity, Qt::Uninitialized);
        txn.swap(fresh);
        d = &txn.data_ptr();
    }
    // Room for TxnTextCapacity bytes and the NUL after the id (QByteArray allocates one more).
    std::memcpy(d->data(), t.text, TxnTextCapacity);
    d->size = t.length;
    d->data()[t.length] = '\0';
}

} // namespace Berth::Engine
