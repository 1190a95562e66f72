#include "diskstore.h"

#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>

#include <algorithm>
#include <cstring>
#include <vector>

#include <cstdio>
#include <unistd.h>

namespace Berth::Gateway::Cache {

namespace {

constexpr quint32 Magic = 0x42435231; // "BCR1"

struct FileHeader
{
    quint32 magic;
    qint32 status;
    qint64 storedAtMs, initialAgeMs, freshMs, staleWhileRevalidateMs, staleIfErrorMs;
    quint32 flags; // 1 must-revalidate, 2 Vary marker
    quint32 fieldsBytes;
    quint32 varyBytes;
    quint32 reserved;
};

QString hex(const Key &key)
{
    return QStringLiteral("%1%2")
        .arg(key.hi, 16, 16, QLatin1Char('0'))
        .arg(key.lo, 16, 16, QLatin1Char('0'));
}

} // namespace

DiskStore::DiskStore(const QString &dir, qint64 limitBytes)
    : m_dir(dir)
    , m_limit(limitBytes)
{
    QDir().mkpath(m_dir);
    QDirIterator it(m_dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        m_bytes += it.fileInfo().size();
    }
}

QString DiskStore::pathOf(const Key &key, const Key &tag) const
{
    return m_dir + u'/' + hex(tag) + u'/' + hex(key);
}

bool DiskStore::read(const Key &key, const Key &tag, StoredResponse *out)
{
    QFile file(pathOf(key, tag));
    if (!file.open(QIODevice::ReadOnly))
        return false;
    const QByteArray data = file.readAll();
    FileHeader h;
    if (data.size() < qsizetype(sizeof h))
        return false;
    std::memcpy(&h, data.constData(), sizeof h);
    if (h.magic != Magic || quint64(sizeof h) + h.fieldsBytes + h.varyBytes > quint64(data.size()))
        return false;
    out->status = h.status;
    out->storedAtMs = h.storedAtMs;
    out->initialAgeMs = h.initialAgeMs;
    out->freshMs = h.freshMs;
    out->staleWhileRevalidateMs = h.staleWhileRevalidateMs;
    out->staleIfErrorMs = h.staleIfErrorMs;
    out->mustRevalidate = h.flags & 1;
    out->varyMarker = h.flags & 2;
    out->fields = data.mid(sizeof h, h.fieldsBytes);
    out->varyNames = data.mid(sizeof h + h.fieldsBytes, h.varyBytes);
    out->body = data.mid(sizeof h + h.fieldsBytes + h.varyBytes);
    file.setFileTime(QDateTime::currentDateTimeUtc(), QFileDevice::FileModificationTime);
    return true;
}

void DiskStore::write(const Key &key, const Key &tag, const StoredResponse &r)
{
    const QString path = pathOf(key, tag);
    QDir().mkpath(QFileInfo(path).path());
    FileHeader h{Magic,
                 r.status,
                 r.storedAtMs,
                 r.initialAgeMs,
                 r.freshMs,
                 r.staleWhileRevalidateMs,
                 r.staleIfErrorMs,
                 quint32((r.mustRevalidate ? 1 : 0) | (r.varyMarker ? 2 : 0)),
                 quint32(r.fields.size()),
                 quint32(r.varyNames.size()),
                 0};
    const QString temporary = path + QStringLiteral(".tmp%1").arg(::getpid());
    QFile file(temporary);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return;
    const qint64 size = qint64(sizeof h) + r.fields.size() + r.varyNames.size() + r.body.size();
    bool ok = file.write(reinterpret_cast<const char *>(&h), sizeof h) == sizeof h;
    ok = ok && file.write(r.fields) == r.fields.size();
    ok = ok && file.write(r.varyNames) == r.varyNames.size();
    ok = ok && file.write(r.body) == r.body.size();
    file.close();
    if (!ok || ::rename(QFile::encodeName(temporary).constData(),
                        QFile::encodeName(path).constData()) != 0) {
        QFile::remove(temporary);
        return;
    }
    if (m_bytes.fetch_add(size, std::memory_order_relaxed) + size > m_limit)
        trim();
}

int DiskStore::purge(const Key &tag)
{
    QDir dir(m_dir + u'/' + hex(tag));
    if (!dir.exists())
        return 0;
    const int files = int(dir.entryList(QDir::Files).size());
    dir.removeRecursively();
    return files;
}

void DiskStore::trim()
{
    struct File
    {
        QString path;
        qint64 size;
        qint64 mtime;
    };
    std::vector<File> files;
    qint64 total = 0;
    QDirIterator it(m_dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        const QFileInfo info = it.fileInfo();
        files.push_back({info.filePath(), info.size(), info.lastModified().toMSecsSinceEpoch()});
        total += info.size();
    }
    std::sort(files.begin(), files.end(),
              [](const File &a, const File &b) { return a.mtime < b.mtime; });
    const qint64 target = m_limit / 10 * 9;
    for (const File &f : files) {
        if (total <= target)
            break;
        if (QFile::remove(f.path))
            total -= f.size;
    }
    m_bytes.store(total, std::memory_order_relaxed);
}

} // namespace Berth::Gateway::Cache
